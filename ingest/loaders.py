"""Loaders: bytes of one kind in, visible text page by page out.

Design choices:

- One ``Loader`` protocol with one method; each kind is a small plain class,
  found through ``LOADERS`` (kind -> class). ``make_loader`` builds one.
- Loaders assume nothing about their input: they run on untrusted bytes inside
  the parse child (see ``ingest.sandbox``) and turn every failure they can
  name into ``RefusedInput``; MemoryError is left to the child to report.
  pypdf and lxml are imported lazily so a text upload does not pay for them.
- PDF pages keep their real 1-based numbers, empty ones included, so
  citations point at the page a reader would turn to. Other kinds are one
  page 1.
- Text is lightly normalised: Latin ligatures expanded (PDFs are full of
  "ﬁ"), control characters dropped, runs of spaces collapsed, at most one
  blank line kept; indentation is kept for Markdown and plain text.
"""

from __future__ import annotations

import io
import re
from typing import Any, Callable, Protocol

from askdocs.types import Page, ParsedDocument
from ingest.hidden import html_element_hidden, strip_hidden_markdown_html, strip_hidden_pdf_text
from ingest.validate import RefusedInput, decode_html, decode_text

_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
_REPLACE = _LIGATURES | dict.fromkeys("\r\f\v\x1c\x1d\x1e\x85\u2028\u2029", "\n")
_RARE = re.compile("[" + "".join(_REPLACE) + "]")
# C0/C1 controls, zero-width and bidi marks, BOMs, lone surrogates (pypdf can produce them).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\ufeff\ud800-\udfff]")
_MAX_TITLE = 300
# Runs of spaces, matched only where something changes (a lone " " is left alone: much faster).
_ODD_SPACE = "\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_SPACES = re.compile(f" [ {_ODD_SPACE}]+|[{_ODD_SPACE}][ {_ODD_SPACE}]*")
_EDGE_SPACES = re.compile(r" \n ?|\n ")
_HTML_SPACES = re.compile(r" [ \t\n\r\f]+|[\t\n\r\f][ \t\n\r\f]*")  # HTML collapses source whitespace
_BLANK_LINES = re.compile(r"\n{3,}")
_HTML_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.DOTALL)
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*)$", re.MULTILINE)  # no backtracking on long lines
_DROP_TAGS = ("script", "style", "noscript", "template", "head", "iframe", "object", "embed", "svg", "canvas")
_LINE, _PARAGRAPH = "\ue000", "\ue001"  # private-use marks for breaks, resolved after the walk
_PARAGRAPH_BREAK = re.compile("[ \ue000\ue001]*\ue001[ \ue000\ue001]*")
_LINE_BREAK = re.compile("[ \ue000]*\ue000[ \ue000]*")
_PARAGRAPH_TAGS = frozenset("p pre table blockquote h1 h2 h3 h4 h5 h6".split())
_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd details div dl dt fieldset figcaption figure footer form h1 h2 h3 "
    "h4 h5 h6 header hr li main nav ol p pre section summary table tbody thead tfoot tr ul caption".split()
)


def normalize_text(text: str, *, keep_indent: bool = False) -> str:
    """Collapse spaces, drop control characters, keep paragraph breaks (at most one blank line)."""
    text = _RARE.sub(lambda m: _REPLACE[m.group()], text.replace("\r\n", "\n"))  # few matches: fast
    text = _CONTROLS.sub("", text)
    if keep_indent:
        lines = []
        for line in text.split("\n"):
            body = line.lstrip(" \t")
            indent = line[: len(line) - len(body)].replace("\t", "    ")
            lines.append(indent + _SPACES.sub(" ", body).rstrip())
        text = "\n".join(lines)
    else:
        text = _EDGE_SPACES.sub("\n", _SPACES.sub(" ", text))
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip("\n") if keep_indent else text.strip("\n ")


class Loader(Protocol):
    """Turns the bytes of one file kind into a ``ParsedDocument``; refuses with ``RefusedInput``."""

    def load(self, data: bytes) -> ParsedDocument: ...


def _single_page(text: str, title: str, empty_reason: str) -> ParsedDocument:
    if not text.strip():
        raise RefusedInput(empty_reason)
    return ParsedDocument(pages=(Page(1, text),), title=title.strip()[:_MAX_TITLE], paginated=False)


class PdfLoader:
    """PDF via pypdf: one ``Page`` per PDF page, numbered from 1.

    Encrypted PDFs are refused, even those that open with an empty password:
    the owner asked for restrictions and we should not quietly lift them.

    Example:
        >>> PdfLoader(max_pages=2000).load(open("paper.pdf", "rb").read()).pages[0].number  # doctest: +SKIP
        1
    """

    def __init__(self, max_pages: int = 2000) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self.max_pages = max_pages

    def load(self, data: bytes) -> ParsedDocument:
        from pypdf import PdfReader  # lazy: only PDF uploads pay for it

        if b"%%EOF" not in data[-8192:]:
            raise RefusedInput("unreadable PDF: the file is truncated (no end-of-file marker)")
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise RefusedInput("encrypted PDF: remove the password and upload again")
            count = len(reader.pages)  # walks the page tree but reads no content: cheap, before any text
            if count > self.max_pages:
                raise RefusedInput(f"too many pages: {count}, the limit is {self.max_pages}")
            if count == 0:
                raise RefusedInput("unreadable PDF: no pages")
        except (RefusedInput, MemoryError):
            raise
        except Exception as e:  # pypdf raises many types on damaged files
            raise RefusedInput(f"unreadable PDF: {_short(e)}") from None
        pages, failures = [], []
        for index in range(count):
            try:
                page = reader.pages[index]
                strip_hidden_pdf_text(page, reader)  # white, tiny, invisible or off-page text: see ingest.hidden
                text = normalize_text(page.extract_text() or "")
            except MemoryError:
                raise
            except Exception as e:  # one bad content stream should not lose the rest of the book
                failures.append(e)
                text = ""
            pages.append(Page(index + 1, text))
        if len(failures) == len(pages):
            raise RefusedInput(f"unreadable PDF: {_short(failures[0])}")
        if not any(p.text for p in pages):
            raise RefusedInput("no extractable text (scanned PDF?)")
        return ParsedDocument(pages=tuple(pages), title=self._title(reader), paginated=True)

    @staticmethod
    def _title(reader: Any) -> str:
        try:
            return normalize_text(str(reader.metadata.title or ""))[:_MAX_TITLE] if reader.metadata else ""
        except Exception:  # a damaged info dictionary costs the title, not the document
            return ""


class HtmlLoader:
    """HTML via lxml: the visible text only, blocks as lines.

    Dropped: ``head`` (the ``<title>`` becomes the title), scripts, styles,
    ``noscript``, ``template``, embedded objects, comments, and elements a
    reader cannot see (``ingest.hidden``: hidden attributes, inline styles
    that hide, white-on-white, tiny or off-screen text). lxml directly rather than BeautifulSoup: an
    18 MB page took 3 s within 512 MB here, against 18 s and over 512 MB.
    """

    def load(self, data: bytes) -> ParsedDocument:
        from lxml import etree

        source = decode_html(data).replace(_LINE, "").replace(_PARAGRAPH, "")  # our marks must be ours
        parser = etree.HTMLParser(huge_tree=True, remove_comments=True, remove_pis=True)
        try:
            root = etree.fromstring(source, parser)
        except (etree.LxmlError, ValueError) as e:
            root, error = None, e
        else:
            error = None
        if any(entry.type_name == "ERR_NO_MEMORY" for entry in parser.error_log):
            raise MemoryError  # libxml2 ran out under the child's limit: report it as such
        if error is not None:
            raise RefusedInput(f"unreadable HTML file: {_short(error)}")
        if root is None:
            raise RefusedInput("empty HTML page: no visible text")
        if any("Excessive depth" in entry.message for entry in parser.error_log):  # the rest would be lost
            raise RefusedInput("unreadable HTML file: elements nested too deeply")
        title_tag = root.find(".//title")
        title = normalize_text("".join(title_tag.itertext())) if title_tag is not None else ""
        text = _HTML_SPACES.sub(" ", _visible_text(root))
        text = _LINE_BREAK.sub("\n", _PARAGRAPH_BREAK.sub("\n\n", text))
        return _single_page(normalize_text(text), title, "empty HTML page: no visible text")


def _visible_text(root: Any) -> str:
    """Text of the visible nodes with break marks, in one iterative pass (deep trees cannot recurse)."""
    parts: list[str] = []
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, str):  # a tail or closing mark pushed below
            parts.append(node)
            continue
        if node.tail:  # text after the element is visible even when the element is not
            stack.append(node.tail)
        name = node.tag
        if name in _DROP_TAGS or not isinstance(name, str) or html_element_hidden(node):
            continue
        mark = _PARAGRAPH if name in _PARAGRAPH_TAGS else _LINE if name in _BLOCK_TAGS else ""
        if name == "br":
            parts.append(_LINE)
        elif name == "pre":  # the only place where source newlines are real
            parts += [mark, "".join(node.itertext()).replace("\n", _LINE), mark]
        else:
            parts += [mark, node.text or ""]
            stack.append(" " if name in ("td", "th") else mark)
            stack.extend(reversed(node))
    return "".join(parts)


class MarkdownLoader:
    """Markdown kept as written (its syntax helps chunking), minus HTML comments and hidden HTML elements."""

    def load(self, data: bytes) -> ParsedDocument:
        visible = strip_hidden_markdown_html(_HTML_COMMENT.sub("", decode_text(data)))  # see ingest.hidden
        text = normalize_text(visible, keep_indent=True)
        heading = _ATX_HEADING.search(text)
        title = heading.group(1).rstrip(" \t#") if heading else ""
        return _single_page(text, title, "empty Markdown file: no text")


class TextLoader:
    """Plain text: UTF-8 (BOM or not), UTF-16/32 with a BOM, or cp1252/latin-1 that looks like text."""

    def load(self, data: bytes) -> ParsedDocument:
        text = normalize_text(decode_text(data), keep_indent=True)
        return _single_page(text, "", "empty text file: no text")


LOADERS: dict[str, Callable[[], Loader]] = {
    "pdf": PdfLoader, "html": HtmlLoader, "markdown": MarkdownLoader, "text": TextLoader
}


def make_loader(kind: str, *, max_pages: int = 2000) -> Loader:
    """The loader for ``kind`` (a key of ``LOADERS``); only PDF uses ``max_pages``."""
    if kind not in LOADERS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(LOADERS)}")
    return PdfLoader(max_pages=max_pages) if kind == "pdf" else LOADERS[kind]()


def _short(error: BaseException, limit: int = 160) -> str:
    message = " ".join(str(error).split()) or type(error).__name__
    return message if len(message) <= limit else message[: limit - 1] + "…"
