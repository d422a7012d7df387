"""PDF via pypdf: one ``Page`` per PDF page, numbered from 1, empty pages included.

Design choices:

- Recognised by ``%PDF-`` in the first 1024 bytes, where readers look for it; a file named .pdf
  that does not start like one is refused rather than read as text.
- Encrypted PDFs are refused, even those that open with an empty password: the owner asked for
  restrictions and we should not quietly lift them.
- The page count is checked against ``max_pages`` before any text is extracted, and one page that
  fails to extract costs that page, not the book.
- pypdf is imported lazily so a text upload does not pay for it.
"""

from __future__ import annotations

import io
from typing import Any

from askdocs.types import Page, ParsedDocument
from ingest.hidden import strip_hidden_pdf_text
from ingest.loaders import FileKind
from ingest.loaders.base import MAX_TITLE, BaseLoader, normalize_text, short
from ingest.validate import RefusedInput


class PdfLoader(BaseLoader):
    """PDF via pypdf: one ``Page`` per PDF page, numbered from 1.

    Example:
        >>> PdfLoader(max_pages=2000).load(open("paper.pdf", "rb").read()).pages[0].number  # doctest: +SKIP
        1
    """

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
            raise RefusedInput(f"unreadable PDF: {short(e)}") from None
        pages, failures = [], []
        for index in range(count):
            try:
                page = reader.pages[index]
                strip_hidden_pdf_text(
                    page, reader
                )  # white, tiny, invisible or off-page text: see ingest.hidden
                text = normalize_text(page.extract_text() or "")
            except MemoryError:
                raise
            except Exception as e:  # one bad content stream should not lose the rest of the book
                failures.append(e)
                text = ""
            pages.append(Page(index + 1, text))
        if len(failures) == len(pages):
            raise RefusedInput(f"unreadable PDF: {short(failures[0])}")
        if not any(p.text for p in pages):
            raise RefusedInput("no extractable text (scanned PDF?)")
        return ParsedDocument(pages=tuple(pages), title=self._title(reader), paginated=True)

    @staticmethod
    def _title(reader: Any) -> str:
        try:
            return normalize_text(str(reader.metadata.title or ""))[:MAX_TITLE] if reader.metadata else ""
        except Exception:  # a damaged info dictionary costs the title, not the document
            return ""


def _starts_like_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


KIND = FileKind(
    name="pdf",
    label="PDF",
    noun="PDF",
    loader=PdfLoader,
    extensions=(".pdf",),
    magic=_starts_like_pdf,
    preload=("pypdf",),
)
