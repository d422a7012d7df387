"""Token-aware chunking that keeps track of pages.

Sizes are counted in the embedder's own tokens, so a chunk never exceeds what
the embedder reads (MiniLM stops at 256 word pieces and silently drops the
rest). Chunks do not cross page boundaries, so a citation names one page,
except that runs of very short pages are merged first (a title page, a page
with one line) and then carry a page span.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from langchain_text_splitters import RecursiveCharacterTextSplitter

from askdocs.types import Chunk, Page, ParsedDocument  # noqa: F401 - Page is used in the doctest
from ingest.ids import chunk_id


@dataclass(frozen=True)
class TextPiece:
    text: str
    page_start: int
    page_end: int


class Chunker(Protocol):
    def split(self, document: ParsedDocument) -> list[TextPiece]: ...


class TokenChunker:
    """A :class:`Chunker` that splits on paragraphs, then lines, then words, by token count.

    Example:
        >>> chunker = TokenChunker(lambda text: len(text.split()), chunk_tokens=50, overlap_tokens=5)
        >>> doc = ParsedDocument(pages=(Page(1, "one two three"),))
        >>> chunker.split(doc)
        [TextPiece(text='one two three', page_start=1, page_end=1)]
    """

    def __init__(self, count_tokens: Callable[[str], int], chunk_tokens: int, overlap_tokens: int) -> None:
        if not 0 <= overlap_tokens < chunk_tokens:
            raise ValueError("overlap must be at least 0 and smaller than the chunk size")
        self._count = count_tokens
        self.chunk_tokens = chunk_tokens
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=overlap_tokens,
            length_function=count_tokens,
            separators=["\n\n", "\n", ". ", " ", ""],
            keep_separator="end",
        )

    def _segments(self, document: ParsedDocument) -> list[TextPiece]:
        """Pages, with runs of short pages merged so they don't become scraps."""
        small = self.chunk_tokens // 4
        segments: list[TextPiece] = []
        pending: TextPiece | None = None
        for page in document.pages:
            text = page.text.strip()
            if not text:
                continue
            if pending is not None:
                text = f"{pending.text}\n\n{text}"
                start = pending.page_start
            else:
                start = page.number
            piece = TextPiece(text, start, page.number)
            if self._count(text) < small:
                pending = piece
                continue
            segments.append(piece)
            pending = None
        if pending is not None:
            segments.append(pending)
        return segments

    def split(self, document: ParsedDocument) -> list[TextPiece]:
        pieces = []
        for segment in self._segments(document):
            for text in self._splitter.split_text(segment.text):
                if text.strip():
                    pieces.append(TextPiece(text.strip(), segment.page_start, segment.page_end))
        return pieces


def make_chunks(
    pieces: list[TextPiece], *, doc_id: str, source: str, collection: str, version: str
) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=chunk_id(doc_id, version, position, piece.text),
            doc_id=doc_id,
            source=source,
            collection=collection,
            version=version,
            position=position,
            text=piece.text,
            page_start=piece.page_start,
            page_end=piece.page_end,
        )
        for position, piece in enumerate(pieces)
    ]
