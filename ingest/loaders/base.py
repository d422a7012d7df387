"""What every loader shares: its one constructor argument, text normalisation, the one-page document.

Design choices:

- Every loader is built as ``Loader(max_pages=N)`` (``make_loader`` and the parse child do it the
  same way for every kind); kinds without pages of their own keep the limit and ignore it.
- Text is lightly normalised: Latin ligatures expanded (PDFs are full of "ﬁ"), control characters
  dropped, runs of spaces collapsed, at most one blank line kept; indentation is kept for Markdown
  and plain text.
- A kind without pages is one page 1, refused with the kind's own reason when it holds no text.
"""

from __future__ import annotations

import re

from askdocs.types import Page, ParsedDocument
from ingest.validate import RefusedInput

_LIGATURES = {"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"}
_REPLACE = _LIGATURES | dict.fromkeys("\r\f\v\x1c\x1d\x1e\x85\u2028\u2029", "\n")
_RARE = re.compile("[" + "".join(_REPLACE) + "]")
# C0/C1 controls, zero-width and bidi marks, BOMs, lone surrogates (pypdf can produce them).
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\ufeff\ud800-\udfff]")
MAX_TITLE = 300
# Runs of spaces, matched only where something changes (a lone " " is left alone: much faster).
_ODD_SPACE = "\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_SPACES = re.compile(f" [ {_ODD_SPACE}]+|[{_ODD_SPACE}][ {_ODD_SPACE}]*")
_EDGE_SPACES = re.compile(r" \n ?|\n ")
_BLANK_LINES = re.compile(r"\n{3,}")


class BaseLoader:
    """Holds ``max_pages``, the most pages a document may have (checked by kinds that have pages)."""

    def __init__(self, max_pages: int = 2000) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self.max_pages = max_pages


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


def single_page(text: str, title: str, empty_reason: str) -> ParsedDocument:
    """``text`` as the one page 1 of an unpaginated document; ``RefusedInput(empty_reason)`` if blank."""
    if not text.strip():
        raise RefusedInput(empty_reason)
    return ParsedDocument(pages=(Page(1, text),), title=title.strip()[:MAX_TITLE], paginated=False)


def short(error: BaseException, limit: int = 160) -> str:
    """An exception as a one-line reason of at most ``limit`` characters, for a refusal message."""
    message = " ".join(str(error).split()) or type(error).__name__
    return message if len(message) <= limit else message[: limit - 1] + "…"
