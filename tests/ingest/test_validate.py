from __future__ import annotations

import codecs
import gzip

import pytest

from askdocs.settings import load_settings
from ingest.validate import (
    MAX_NAME_CHARS,
    MAX_SOURCE_CHARS,
    RefusedInput,
    check_size,
    decode_html,
    decode_text,
    detect_kind,
    sanitize_filename,
    sanitize_source,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("C:\\Users\\ana\\report.pdf", "report.pdf"),
        ("", "document"),
        ("..", "document"),
        ("/", "document"),
        ("con\x00trol.txt", "control.txt"),
        ("ｆｕｌｌwidth.pdf", "fullwidth.pdf"),
        ("ｄｉｒ／ｆｉｌｅ.md", "file.md"),  # fullwidth solidus is a slash after NFKC
        ("tab\tand\u3000ideographic  space.md", "tab and ideographic space.md"),
        ("evil\u202etxt.exe", "eviltxt.exe"),  # bidi override dropped
        ("zero\u200bwidth.html", "zerowidth.html"),
        ("  .hidden  ", "hidden"),
        ("notes.md", "notes.md"),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_bounds_length_and_keeps_extension() -> None:
    name = sanitize_filename("a" * 496 + ".pdf")
    assert len(name) == MAX_NAME_CHARS
    assert name.endswith("a.pdf")
    assert len(sanitize_filename("b" * 500)) == MAX_NAME_CHARS


def test_sanitize_filename_never_returns_a_path() -> None:
    for raw in ["a/b/c.txt", "../x", "x/..", "\x00/\x00", "a\\..\\..\\b"]:
        name = sanitize_filename(raw)
        assert name and "/" not in name and "\\" not in name and name not in (".", "..")


def test_detect_pdf_by_magic_anywhere_in_first_kilobyte(pdf_3pages: bytes) -> None:
    assert detect_kind(pdf_3pages, "whatever.bin") == "pdf"
    assert detect_kind(b"\n" * 500 + pdf_3pages, "x") == "pdf"
    with pytest.raises(RefusedInput, match="named .pdf"):
        detect_kind(b"\n" * 1100 + pdf_3pages, "late.pdf")


def test_zip_renamed_pdf_is_refused_as_zip(zip_bytes: bytes) -> None:
    with pytest.raises(RefusedInput, match="looks like a ZIP archive") as info:
        detect_kind(zip_bytes, "report.pdf")
    assert info.value.reason.startswith("not a supported file type")


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (gzip.compress(b"hello"), "gzip"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "PNG image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "JPEG image"),
        (b"GIF89a" + b"\x00" * 20, "GIF image"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 20, "executable"),
        (b"{\\rtf1\\ansi hello}", "RTF"),
    ],
)
def test_known_binary_formats_are_refused_by_name(data: bytes, looks_like: str) -> None:
    with pytest.raises(RefusedInput, match=looks_like):
        detect_kind(data, "innocent.txt")


@pytest.mark.parametrize(
    "data",
    [b"text\x00with NUL", bytes(range(256)) * 4, bytes([0x01, 0x02, 0x03, 0x90, 0xC3]) * 200],
)
def test_other_binary_is_refused(data: bytes) -> None:
    with pytest.raises(RefusedInput, match="binary data"):
        detect_kind(data, "notes.md")


def test_text_named_pdf_is_refused() -> None:
    with pytest.raises(RefusedInput, match="not a PDF"):
        detect_kind(b"just some text", "fake.pdf")


def test_empty_file_is_refused() -> None:
    with pytest.raises(RefusedInput, match="empty file"):
        detect_kind(b"", "a.txt")


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        (b"<!DOCTYPE html><p>x</p>", "page.txt", "html"),
        (b"  <!-- c -->\n<HTML lang=en><p>x</p>", "page", "html"),
        (b"<!doctype html><p>x</p>", "readme.md", "html"),  # content wins over extension
        (b"<p>fragment</p>", "page.htm", "html"),
        (b"# Title\n\ntext", "README.md", "markdown"),
        (b"# Title\n\ntext", "notes.markdown", "markdown"),
        (b"# Title\n\ntext", "notes.txt", "text"),
        (b"<p>not sniffed as html</p>", "notes.txt", "text"),
        ("Grüße".encode("utf-16"), "utf16.txt", "text"),
        (codecs.BOM_UTF16_LE + "<!DOCTYPE html><p>é</p>".encode("utf-16-le"), "x", "html"),
        ("café au lait".encode("cp1252"), "latin.txt", "text"),
    ],
)
def test_text_kinds(data: bytes, name: str, kind: str) -> None:
    assert detect_kind(data, name) == kind


def test_decode_text_encodings(utf16_text: bytes) -> None:
    assert decode_text(utf16_text).startswith("Grüße aus Köln.")
    assert decode_text(codecs.BOM_UTF16_BE + "hi".encode("utf-16-be")) == "hi"
    assert decode_text(b"\xef\xbb\xbfbom") == "bom"
    assert decode_text("naïve".encode("cp1252")) == "naïve"
    assert decode_text("€ sign".encode("cp1252")) == "€ sign"


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ('<meta charset="windows-1252"><p>café'.encode("cp1252"), '<meta charset="windows-1252"><p>café'),
        ("<meta charset=iso-8859-1><p>€".encode("cp1252"), "<meta charset=iso-8859-1><p>€"),  # cp1252
        ('<meta charset="utf-16"><p>é'.encode(), '<meta charset="utf-16"><p>é'),  # impossible: use UTF-8
        ('<meta charset="no-such-codec"><p>é'.encode(), '<meta charset="no-such-codec"><p>é'),
        (codecs.BOM_UTF8 + '<meta charset="latin-1"><p>é'.encode(), '<meta charset="latin-1"><p>é'),
        (b'<?xml version="1.0" encoding="utf-8"?><html>x', "<html>x"),
    ],
)
def test_decode_html(data: bytes, text: str) -> None:
    assert decode_html(data) == text


def test_check_size() -> None:
    settings = load_settings(max_upload_mb=1)
    check_size(b"x" * 1024, settings)
    with pytest.raises(RefusedInput, match=r"too large: 2.0 MB, the limit is 1 MB"):
        check_size(b"x" * (2 * 1024 * 1024), settings)
    with pytest.raises(RefusedInput, match="empty file"):
        check_size(b"", settings)


def test_refused_input_carries_reason() -> None:
    error = RefusedInput("encrypted PDF: remove the password and upload again")
    assert error.reason == str(error) == "encrypted PDF: remove the password and upload again"
    assert isinstance(error, Exception)


@pytest.mark.parametrize(
    "label",
    [
        "base64",
        "rot13",
        "zlib",
        "hex",
        "bz2",
        "uu",
        "quopri",
        "undefined",
        "idna",
        "punycode",
        "unicode_escape",
        "raw_unicode_escape",
        "utf-7",
        "cp037",
        "hz",
        "utf-32",
        "utf_16_le",
    ],
)
def test_decode_html_ignores_labels_that_are_not_ascii_compatible_web_encodings(label: str) -> None:
    """These escaped the HTML loader: base64, rot13... as LookupError, idna and undefined as UnicodeError."""
    data = f'<meta charset="{label}"><p>caf\u00e9 +ADw-b+AD4- \\u202e</p>'.encode()
    assert decode_html(data) == data.decode()


@pytest.mark.parametrize(
    "label", ["shift_jis", "euc-jp", "gb18030", "big5", "koi8-r", "windows-1251", "UTF8"]
)
def test_decode_html_keeps_real_ascii_compatible_encodings(label: str) -> None:
    text = '<meta charset="' + label + '"><p>\u65e5\u672c \u0416</p>'
    try:
        data = text.encode(label)
    except UnicodeEncodeError:
        data = text.replace("\u65e5\u672c", "").encode(label)
    assert decode_html(data) == data.decode(label)


def test_sanitize_filename_recomposes_after_dropping_a_control() -> None:
    """Found by fuzzing: "A" ESC U+0300 gave "A" + a combining mark, not NFKC, so not stable."""
    assert sanitize_filename("A\x1b\u0300.txt") == "\u00c0.txt"
    once = sanitize_filename("e\u200b\u0301")
    assert once == sanitize_filename(once) == "\u00e9"


def test_sanitize_source_drops_parts_that_sanitise_to_nothing_and_bounds_length() -> None:
    assert sanitize_source("a/..\u200b/\u202e/b.md") == "a/b.md"  # was "a/document/document/b.md"
    deep = "/".join(["folder"] * 10_000) + "/x.md"
    assert len(sanitize_source(deep)) <= MAX_SOURCE_CHARS and sanitize_source(deep).endswith("folder/x.md")
    assert sanitize_source("x" * 5000) == "x" * MAX_NAME_CHARS
