"""The generator registry and its builders, no model loaded: aliases, checks, a backend added in a test."""

from __future__ import annotations

import pytest

import generation.generators
from askdocs.registry import UnknownBackend
from askdocs.settings import Settings
from generation.generators import (
    GENERATORS,
    api_generator_from_settings,
    fast_generator_from_settings,
    generator_from_settings,
    local_backend,
    local_generator_from_settings,
)
from tests.conftest import make_settings
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.unit

CHOICES = "choose one of: auto, llamacpp, local, openai, transformers"


@pytest.mark.parametrize(
    ("requested", "importable", "cuda", "device", "expected"),
    [
        ("auto", True, False, "auto", "llamacpp"),
        ("auto", True, True, "auto", "transformers"),  # a GPU: transformers in float16
        ("auto", True, False, "cuda", "transformers"),
        ("auto", False, False, "auto", "transformers"),  # llama-cpp-python not installed
        ("local", True, False, "auto", "transformers"),  # "local" keeps meaning transformers
        ("llamacpp", True, True, "auto", "llamacpp"),  # asked for by name: never overridden
    ],
)
def test_auto_picks_llamacpp_on_a_cpu_with_llama_cpp_installed(
    monkeypatch, requested, importable, cuda, device, expected
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: (object() if importable else None) if name == "llama_cpp" else real(name, *a),
    )
    monkeypatch.setattr(generation.generators, "_has_cuda", lambda: cuda)
    assert local_backend(requested, device) == expected


def test_generator_from_settings_builds_the_backend_asked_for(monkeypatch, tmp_path):
    built: list[str] = []
    for name in ("llamacpp", "transformers"):
        build = lambda settings, name=name: built.append(name)
        monkeypatch.setattr(GENERATORS.get(name), "from_settings", build)
    for name in ("llamacpp", "transformers", "local"):
        generator_from_settings(make_settings(tmp_path, generator_backend=name))
    local_generator_from_settings(make_settings(tmp_path, generator_backend="openai"))  # its fallback
    assert built == ["llamacpp", "transformers", "transformers", "transformers"]


def test_the_api_generator_is_built_whatever_the_backend_setting(tmp_path):
    settings = make_settings(
        tmp_path, generator_backend="local", api_model="m", api_base_url="https://user:pw12@llm.example/v1"
    )
    assert api_generator_from_settings(settings).name == "api:m@https://llm.example/v1"


@pytest.mark.parametrize("setting", ["generator_backend", "fast_generator_backend"])
def test_an_unknown_backend_fails_with_the_choices(tmp_path, setting):
    settings = make_settings(tmp_path, **{setting: "llama"})  # a plain string: the builders check it
    builder = generator_from_settings if setting == "generator_backend" else fast_generator_from_settings
    expected = f"^{setting}='llama' is not a known generator backend; {CHOICES}$"
    with pytest.raises(UnknownBackend, match=expected):
        builder(settings)


@pytest.fixture
def scripted_backend():
    GENERATORS.add("scripted", "tests.support.generators:ScriptedGenerator")  # a new backend's one line
    try:
        yield
    finally:
        GENERATORS.remove("scripted")


def test_a_backend_registered_in_one_line_is_built_from_settings(scripted_backend, tmp_path):
    generator = generator_from_settings(
        Settings(data_dir=tmp_path, generator_backend="scripted", generator_model="echo")
    )
    assert isinstance(generator, ScriptedGenerator) and generator.name == "scripted:echo"
    hello = [{"role": "user", "content": "Hi"}]
    assert "".join(generator.stream(hello, max_tokens=8)) == "Scripted by echo. "
    local = local_generator_from_settings(Settings(data_dir=tmp_path, generator_backend="scripted"))
    assert isinstance(local, ScriptedGenerator)  # it reads generator_model, so it is a local model too
    fast = fast_generator_from_settings(
        Settings(data_dir=tmp_path, fast_generator_backend="scripted", fast_generator_model="quick")
    )
    assert fast is not None and fast.name == "scripted:quick"


def test_a_backend_removed_again_is_unknown(tmp_path):
    with pytest.raises(UnknownBackend, match=CHOICES):
        generator_from_settings(Settings(data_dir=tmp_path, generator_backend="scripted"))


# -- the scripted generator itself ------------------------------------------------------------------------
def test_scripted_replies_come_in_order_then_the_standing_one():
    from generation.generators import GeneratorUnavailable

    generator = (
        ScriptedGenerator("Standing.")
        .enqueue("First reply.")
        .enqueue(GeneratorUnavailable("reset"), after="Cut off")
    )
    ask = [{"role": "user", "content": "Q"}]
    assert list(generator.stream(ask, 8)) == ["First ", "reply. "]
    cut = generator.stream(ask, 9)
    assert [next(cut), next(cut)] == ["Cut ", "off "]
    with pytest.raises(GeneratorUnavailable, match="reset"):
        next(cut)
    assert "".join(generator.stream(ask, 10)) == "Standing. "
    assert generator.prompts == [ask, ask, ask] and generator.limits == [8, 9, 10]
