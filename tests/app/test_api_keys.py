"""API keys: made, written as a line, read back, and checked; malformed files fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.api.keys import KeyRing, KeysFileError, new_key
from askdocs.types import Principal

pytestmark = pytest.mark.unit


def test_a_new_key_round_trips_through_its_line_and_acts_as_its_principal(tmp_path: Path) -> None:
    key, record = new_key("bob", ("sales", "support"))
    admin_key, admin_record = new_key("root", admin=True)
    (tmp_path / "keys.txt").write_text(f"# keys\n{record.line()}\n\n{admin_record.line()}  # the operator\n")
    ring = KeyRing.from_file(tmp_path / "keys.txt")
    assert len(ring) == 2
    assert ring.principal(key) == Principal("bob", ("sales", "support"), False)
    assert ring.principal(admin_key) == Principal("root", (), True)
    assert key not in record.line()  # only the salted hash is stored
    assert record.line().split()[0] == key.split("_")[1]  # the id in the key names its line


def test_wrong_keys_act_as_nobody() -> None:
    key, record = new_key("bob")
    ring = KeyRing([record])
    other, _ = new_key("eve")
    same_id_other_secret = key[:14] + ("A" if key[14] != "A" else "B") + key[15:]
    for wrong in (other, same_id_other_secret, key[:-1], key + "x", "", "Bearer " + key, key.upper()):
        assert ring.principal(wrong) is None, wrong


def test_the_same_key_hashes_differently_each_time() -> None:
    assert new_key("bob")[1].digest != new_key("bob")[1].digest


@pytest.mark.parametrize(
    "line,complaint",
    [
        ("0123abcd sha256$c2FsdA==$AAAA bob - user", "sha256"),  # digest too short
        ("0123abcd scrypt$c2FsdA==$" + "A" * 44 + " bob - user", "sha256"),
        ("0123abcd sha256$c2FsdA==$" + "A" * 43 + "= bob - owner", "role"),
        ("xyz sha256$c2FsdA==$" + "A" * 43 + "= bob - user", "id"),
        ("0123abcd bob - user", "5 fields"),
    ],
)
def test_a_malformed_line_stops_the_server_naming_the_line_not_its_content(
    tmp_path: Path, line: str, complaint: str
) -> None:
    path = tmp_path / "keys.txt"
    path.write_text(f"# header\n{line}\n")
    with pytest.raises(KeysFileError) as error:
        KeyRing.from_file(path)
    assert "line 2" in str(error.value) and complaint in str(error.value)
    assert "c2FsdA" not in str(error.value)


def test_a_duplicate_id_is_refused(tmp_path: Path) -> None:
    _, record = new_key("bob")
    (tmp_path / "keys.txt").write_text(f"{record.line()}\n{record.line()}\n")
    with pytest.raises(KeysFileError, match="appears twice"):
        KeyRing.from_file(tmp_path / "keys.txt")


def test_no_file_means_no_keys(tmp_path: Path) -> None:
    assert len(KeyRing.from_file(tmp_path / "missing.txt")) == 0
    assert len(KeyRing.from_file(None)) == 0


@pytest.mark.parametrize("user,groups", [("bob smith", ()), ("bob", ("a,b",)), ("bo#b", ()), ("", ())])
def test_names_that_would_break_the_line_are_refused(user: str, groups: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        new_key(user, groups)


def test_the_cli_prints_a_key_once_and_the_line_that_accepts_it(capsys: pytest.CaptureFixture[str]) -> None:
    from app.api import main

    main(["keys", "new", "--user", "bob", "--groups", "sales, support", "--admin"])
    out = capsys.readouterr().out
    key = next(word for word in out.split() if word.startswith("askd_"))
    line = next(text.strip() for text in out.splitlines() if text.strip().startswith(key.split("_")[1]))
    from app.api.keys import parse_line

    assert KeyRing([parse_line(line)]).principal(key) == Principal("bob", ("sales", "support"), True)
    assert out.count(key) == 1
