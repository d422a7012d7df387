from __future__ import annotations

from collections.abc import Callable

import pytest

from askdocs.types import Page, ParsedDocument
from ingest.loaders import LOADERS, make_loader
from ingest.loaders.base import normalize_text
from ingest.loaders.html import HtmlLoader
from ingest.loaders.markdown import MarkdownLoader
from ingest.loaders.pdf import PdfLoader
from ingest.loaders.text import TextLoader
from ingest.validate import RefusedInput

pytestmark = pytest.mark.unit

# One small valid input per kind: the contract below runs against every loader.
VALID = {
    "pdf": [["hello from a pdf"]],
    "html": b"<html><body><p>hello from html</p></body></html>",
    "markdown": b"# Title\n\nhello from markdown",
    "text": b"hello from text",
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_contract_every_loader_returns_numbered_pages(kind: str, pdf_factory: Callable[..., bytes]) -> None:
    data = pdf_factory(VALID[kind]) if kind == "pdf" else VALID[kind]
    document = make_loader(kind).load(data)
    assert isinstance(document, ParsedDocument)
    assert [p.number for p in document.pages] == list(range(1, len(document.pages) + 1))
    assert all(isinstance(p, Page) and isinstance(p.text, str) for p in document.pages)
    assert "hello from" in document.pages[0].text
    assert document.paginated is (kind == "pdf")


@pytest.mark.parametrize("kind", ["html", "markdown", "text"])
@pytest.mark.parametrize("data", [b"", b"   \n\t \r\n  ", b"\xef\xbb\xbf\n\n"])
def test_contract_no_text_is_refused_as_empty(kind: str, data: bytes) -> None:
    with pytest.raises(RefusedInput, match="^empty"):
        make_loader(kind).load(data)


def test_pdf_pages_numbers_text_and_title(
    pdf_3pages: bytes, page_text: dict[int, str], pdf_title: str
) -> None:
    document = PdfLoader(max_pages=10).load(pdf_3pages)
    assert document.paginated is True
    assert document.title == pdf_title
    assert [(p.number, p.text) for p in document.pages] == [(n, page_text[n]) for n in (1, 2, 3)]


def test_pdf_keeps_blank_pages_in_numbering(pdf_factory: Callable[..., bytes]) -> None:
    data = pdf_factory([["first"], [], ["third"]])
    assert [(p.number, p.text) for p in PdfLoader().load(data).pages] == [(1, "first"), (2, ""), (3, "third")]


def test_pdf_page_limit_is_checked(pdf_3pages: bytes) -> None:
    with pytest.raises(RefusedInput, match=r"^too many pages: 3, the limit is 2$"):
        PdfLoader(max_pages=2).load(pdf_3pages)
    assert len(PdfLoader(max_pages=3).load(pdf_3pages).pages) == 3


def test_pdf_page_limit_is_checked_before_any_text(
    pdf_3pages: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pypdf

    def fail(*args: object, **kwargs: object) -> str:
        raise AssertionError("text was extracted before the page count was checked")

    monkeypatch.setattr(pypdf.PageObject, "extract_text", fail)
    with pytest.raises(RefusedInput, match="too many pages"):
        PdfLoader(max_pages=1).load(pdf_3pages)


@pytest.mark.parametrize("fixture", ["encrypted_pdf_empty_password", "encrypted_pdf"])
def test_encrypted_pdf_is_refused(fixture: str, request: pytest.FixtureRequest) -> None:
    with pytest.raises(RefusedInput, match=r"^encrypted PDF: remove the password"):
        PdfLoader().load(request.getfixturevalue(fixture))


def test_truncated_pdf_is_refused(truncated_pdf: bytes) -> None:
    with pytest.raises(RefusedInput, match=r"^unreadable PDF: the file is truncated"):
        PdfLoader().load(truncated_pdf)


def test_damaged_pdf_is_refused_with_the_cause(truncated_pdf: bytes) -> None:
    with pytest.raises(RefusedInput, match=r"^unreadable PDF: \S"):
        PdfLoader().load(truncated_pdf + b"\n%%EOF\n")


def test_pdf_without_text_is_refused(blank_pdf: bytes) -> None:
    with pytest.raises(RefusedInput, match=r"^no extractable text \(scanned PDF\?\)$"):
        PdfLoader().load(blank_pdf)


def test_html_keeps_only_visible_text(script_html: bytes) -> None:
    document = HtmlLoader().load(script_html)
    text = document.pages[0].text
    assert document.title == "Script Soup"
    assert text == "Visible heading\n\nThe only visible paragraph.\n\nfirst item\nsecond item"
    markers = ("SCRIPT_TEXT", "STYLE_TEXT", "META_TEXT", "JSON_LD", "NOSCRIPT_TEXT", "color", "Script Soup")
    for marker in markers:
        assert marker not in text


def test_html_drops_hidden_elements_and_keeps_structure(hidden_html: bytes) -> None:
    text = HtmlLoader().load(hidden_html).pages[0].text
    for marker in ("HIDDEN_ATTR", "DISPLAY_NONE", "VISIBILITY", "TEMPLATE", "COMMENT", "NESTED_HIDDEN"):
        assert marker not in text
    assert text == "shown one\n\nshown\ntwo\n\ncell a cell b\n\ncode line 1\ncode line 2"


def test_html_with_only_scripts_is_empty() -> None:
    with pytest.raises(RefusedInput, match="^empty HTML page"):
        HtmlLoader().load(b"<html><head><title>t</title></head><body><script>x()</script></body></html>")


def test_html_charset_from_meta() -> None:
    data = '<html><head><meta charset="windows-1252"></head><body><p>café</p></body></html>'.encode("cp1252")
    assert HtmlLoader().load(data).pages[0].text == "café"


def test_html_nested_too_deeply_is_refused_not_truncated() -> None:
    data = b"<div>" * 5000 + b"deep" + b"</div>" * 5000 + b"<p>after</p>"
    with pytest.raises(RefusedInput, match="nested too deeply"):
        HtmlLoader().load(data)
    assert HtmlLoader().load(b"<div>" * 500 + b"deep" + b"</div>" * 500).pages[0].text == "deep"


def test_xhtml_with_xml_declaration() -> None:
    data = b'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
    data += "<p>café</p></html>".encode()
    assert HtmlLoader().load(data).pages[0].text == "café"


def test_pdf_memory_error_is_not_disguised(pdf_3pages: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    import pypdf

    def exhausted(*args: object, **kwargs: object) -> str:
        raise MemoryError

    monkeypatch.setattr(pypdf.PageObject, "extract_text", exhausted)
    with pytest.raises(MemoryError):  # the child reports it as a memory refusal, not "unreadable PDF"
        PdfLoader().load(pdf_3pages)


def test_markdown_keeps_syntax_drops_comments() -> None:
    data = (
        b"<!-- draft: SECRET_NOTE -->\n# Install ##\n\nRun   `pip install x`.\n\n    code block\n"
        b"<!-- unclosed TAIL"
    )
    document = MarkdownLoader().load(data)
    assert document.title == "Install"
    assert document.pages[0].text == "# Install ##\n\nRun `pip install x`.\n\n    code block"


def test_text_utf16_with_bom(utf16_text: bytes) -> None:
    document = TextLoader().load(utf16_text)
    assert document.pages == (Page(1, "Grüße aus Köln.\nNaïve café — ünïcödé text."),)
    assert document.title == ""


def test_text_latin1_and_binary() -> None:
    assert TextLoader().load("résumé".encode("latin-1")).pages[0].text == "résumé"
    with pytest.raises(RefusedInput, match="binary"):
        TextLoader().load(b"abc\x00def")


def test_normalize_text() -> None:
    raw = "The  ﬁrst\u00a0 line\t\twith\x00 junk   \r\n\r\n\r\n\n\nSecond\u200b paragraph\fthird"
    assert normalize_text(raw) == "The first line with junk\n\nSecond paragraph\nthird"
    assert normalize_text("  indented   code\n", keep_indent=True) == "  indented code"
    assert normalize_text("  indented   code\n") == "indented code"


def test_make_loader_and_constructor_validation() -> None:
    assert isinstance(make_loader("pdf", max_pages=7), PdfLoader)
    assert make_loader("pdf", max_pages=7).max_pages == 7  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown kind"):
        make_loader("docx")
    with pytest.raises(ValueError, match="max_pages"):
        PdfLoader(max_pages=0)
