"""Markdown kept as written (its syntax helps chunking), minus HTML comments and hidden HTML elements.

Recognised by its extension only: nothing in a Markdown file's bytes tells it from plain text. The
title is the first ATX heading; indentation is kept (code blocks).
"""

from __future__ import annotations

import re

from askdocs.types import ParsedDocument
from ingest.hidden import strip_hidden_markdown_html
from ingest.loaders import FileKind
from ingest.loaders.base import BaseLoader, normalize_text, single_page
from ingest.validate import decode_text

_HTML_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.DOTALL)
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*)$", re.MULTILINE)  # no backtracking on long lines


class MarkdownLoader(BaseLoader):
    """Markdown kept as written (its syntax helps chunking), minus HTML comments and hidden HTML elements."""

    def load(self, data: bytes) -> ParsedDocument:
        visible = strip_hidden_markdown_html(_HTML_COMMENT.sub("", decode_text(data)))  # see ingest.hidden
        text = normalize_text(visible, keep_indent=True)
        heading = _ATX_HEADING.search(text)
        title = heading.group(1).rstrip(" \t#") if heading else ""
        return single_page(text, title, "empty Markdown file: no text")


KIND = FileKind(
    name="markdown",
    label="Markdown",
    noun="Markdown file",
    loader=MarkdownLoader,
    extensions=(".md", ".markdown", ".mdown", ".mkd"),
)
