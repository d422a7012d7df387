"""Token-aware chunking that keeps track of pages.

Sizes are counted in the embedder's own tokens, so a chunk never exceeds what
the embedder reads (MiniLM stops at 256 word pieces and silently drops the
rest). Chunks do not cross page boundaries, so a citation names one page,
except that runs of very short pages are merged first (a title page, a page
with one line) and then carry a page span.

This runs in the app process on text from untrusted files, so its cost must
not explode on hostile text. The splitter counts tokens once per word, so
counts of short strings are remembered (prose repeats its words). Text the
separators cannot split (no spaces: base64, long URLs, "a,a,a,...") is not
split into single characters, one tokenizer call each, but cut in windows
sized by a few counts. Every chunk's count is checked at the end, so a
tokenizer that counts a joined text higher than its parts cannot slip one
past the limit either, and chunks are held to 8 characters per token of the
limit, since one [UNK] token can stand for a 100 KB "word".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from langchain_text_splitters import RecursiveCharacterTextSplitter

from askdocs.types import Chunk, Page, ParsedDocument  # noqa: F401 - Page is used in the doctest
from ingest.ids import chunk_id

_REMEMBER_CHARS = 48  # counts of strings up to this long are remembered...
_REMEMBER_ENTRIES = 65_536  # ...this many at a time
# A chunk holds at most this many characters per token of the limit (English runs ~4-5 per
# word piece): one [UNK] can stand for a 100 KB "word", which is no passage to show or prompt with.
_CHARS_PER_TOKEN = 8
_LAST_SPACE = re.compile(r"\s\S*\Z")


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
        self._known: dict[str, int] = {}
        self.chunk_tokens = chunk_tokens
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=overlap_tokens,
            length_function=self._tokens,
            separators=["\n\n", "\n", ". ", " "],  # no "": see _within_limit
            keep_separator="end",
        )

    def _tokens(self, text: str) -> int:
        if len(text) > _REMEMBER_CHARS:
            return self._count(text)
        known = self._known.get(text)
        if known is None:
            if len(self._known) >= _REMEMBER_ENTRIES:
                self._known.clear()
            known = self._known[text] = self._count(text)
        return known

    def _within_limit(self, text: str) -> list[str]:
        """``text`` if it fits the limits, else cut into pieces that do, at a space where there is one."""
        widest = self.chunk_tokens * _CHARS_PER_TOKEN
        if len(text) <= widest and self._tokens(text) <= self.chunk_tokens:
            return [text]
        pieces: list[str] = []
        start, width = 0, self.chunk_tokens
        while start < len(text):
            while True:
                window = text[start : start + width]
                tokens = self._count(window)
                if tokens <= self.chunk_tokens or width == 1:
                    break
                width = max(1, width // 2)
            end = start + len(window)
            space = _LAST_SPACE.search(window) if end < len(text) else None
            if space is not None and space.start() > len(window) // 2:
                end = start + space.start() + 1
            if piece := text[start:end].strip():
                pieces.append(piece)
            start = end
            if tokens <= self.chunk_tokens // 2:  # e.g. one token per long word: wider windows
                width = min(width * 2, widest)
        return pieces

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
            if len(text) < small * _CHARS_PER_TOKEN and self._count(text) < small:
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
                for piece in self._within_limit(text.strip()) if text.strip() else ():
                    pieces.append(TextPiece(piece, segment.page_start, segment.page_end))
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
