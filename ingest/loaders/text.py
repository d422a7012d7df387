"""Plain text: UTF-8 (BOM or not), UTF-16/32 with a BOM, or cp1252/latin-1 that looks like text.

The kind of last resort: any upload that decodes as text (``ingest.validate.decode_text`` refuses
what looks like binary) and that no other kind claims is plain text, whatever its name.
"""

from __future__ import annotations

from askdocs.types import ParsedDocument
from ingest.loaders import FileKind
from ingest.loaders.base import BaseLoader, normalize_text, single_page
from ingest.validate import decode_text


class TextLoader(BaseLoader):
    """Plain text: UTF-8 (BOM or not), UTF-16/32 with a BOM, or cp1252/latin-1 that looks like text."""

    def load(self, data: bytes) -> ParsedDocument:
        text = normalize_text(decode_text(data), keep_indent=True)
        return single_page(text, "", "empty text file: no text")


KIND = FileKind(
    name="text",
    label="plain-text",
    noun="text file",
    loader=TextLoader,
    extensions=(".txt",),
    any_text=True,
)
