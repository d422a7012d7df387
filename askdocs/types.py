"""Data that crosses a package boundary.

Everything here is a frozen dataclass: once a loader, the retriever or the
generator hands one over, nobody downstream can change it behind its back.
Pages are 1-based, as a reader of the document counts them; documents
without pages (HTML, Markdown, text) have a single page 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Page:
    """The text of one page of a parsed document."""

    number: int
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    """What a loader returns: the visible text, page by page."""

    pages: tuple[Page, ...]
    title: str = ""
    paginated: bool = False  # True when page numbers are real (PDF)


def page_label(start: int, end: int) -> str:
    """``"p. 3"`` or ``"pp. 3-4"``: the one spelling of a page span in prompts, citations and reports."""
    return f"p. {start}" if start == end else f"pp. {start}-{end}"


@dataclass(frozen=True)
class Chunk:
    """One searchable passage of a document.

    ``chunk_id`` is a hash of (document version, position, text), so the same
    bytes always give the same ids and re-ingesting changes nothing.
    """

    chunk_id: str
    doc_id: str
    source: str
    collection: str
    version: str
    position: int
    text: str
    page_start: int
    page_end: int

    @property
    def page_label(self) -> str:
        return page_label(self.page_start, self.page_end)


@dataclass(frozen=True)
class DocumentRecord:
    """A stored document as the index knows it."""

    doc_id: str
    source: str
    collection: str
    version: str
    pages: int
    chunks: int
    size_bytes: int
    ingested_at: float
    kind: str


@dataclass(frozen=True)
class StageScore:
    """Where a chunk stood after one retrieval stage (bm25, dense, fused, rerank)."""

    stage: str
    rank: int  # 1-based
    score: float


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk with its rank and score at every stage it went through."""

    chunk: Chunk
    score: float
    stages: tuple[StageScore, ...] = ()

    def stage(self, name: str) -> StageScore | None:
        return next((s for s in self.stages if s.stage == name), None)


@dataclass(frozen=True)
class Citation:
    """A numbered source as shown under an answer."""

    number: int
    chunk_id: str
    source: str
    page_start: int
    page_end: int
    snippet: str

    @property
    def page_label(self) -> str:
        return page_label(self.page_start, self.page_end)


@dataclass(frozen=True)
class Answer:
    """The result of asking a question: text, its sources and what it cost.

    ``incomplete`` marks an answer whose generation failed after it had begun: ``text`` is what
    arrived, and ``incomplete_reason`` says why in words fit to show the user. ``cached`` marks an
    answer served by the semantic cache (``generation.cache``) without asking a model. ``tier`` and
    ``tier_reason`` say which generator routing chose for it, and why (``generation.routing``).
    """

    question: str
    query: str
    text: str
    citations: tuple[Citation, ...]
    sources: tuple[RetrievedChunk, ...]
    abstained: bool
    unsupported_sentences: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    backend: str = ""
    incomplete: bool = False
    incomplete_reason: str = ""
    cached: bool = False
    tier: str = ""  # "fast" or "strong" when routing chose the generator (generation/routing.py), else ""
    tier_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in user (with groups) or an anonymous visitor; admins read everything."""

    name: str | None
    groups: tuple[str, ...] = ()
    is_admin: bool = False

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(None)
