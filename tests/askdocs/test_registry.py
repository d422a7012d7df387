import pytest

from askdocs.registry import Registry, UnknownBackend

pytestmark = pytest.mark.unit


def test_an_entry_by_dotted_path_is_imported_on_first_use_and_kept():
    shapes: Registry[type] = Registry("shape", {"ordered": "collections:OrderedDict"})
    assert shapes.names() == ("ordered",)
    from collections import OrderedDict

    assert shapes.get("ordered") is OrderedDict
    assert shapes.get("ordered") is OrderedDict


def test_an_unknown_name_names_the_setting_and_every_choice():
    shapes: Registry[type] = Registry("shape", {"list": list, "dict": dict})
    with pytest.raises(
        UnknownBackend, match=r"ASKDOCS_SHAPE='set' is not a known shape; choose one of: dict, list"
    ):
        shapes.check("set", "ASKDOCS_SHAPE")
    with pytest.raises(UnknownBackend):
        shapes.get("set")
    assert shapes.check("list") == "list"


def test_adding_twice_is_refused_unless_replacing_and_remove_forgets():
    shapes: Registry[type] = Registry("shape")
    shapes.add("seq", list)
    with pytest.raises(ValueError, match="registered already"):
        shapes.add("seq", tuple)
    shapes.add("seq", tuple, replace=True)
    assert shapes.get("seq") is tuple and "seq" in shapes and list(shapes) == ["seq"]
    shapes.remove("seq")
    assert "seq" not in shapes
