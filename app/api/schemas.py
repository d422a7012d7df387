"""The REST API's request and response bodies, as FastAPI shows them in the OpenAPI schema.

These are the wire format, kept apart from the frozen dataclasses of ``askdocs.types``: the API can
then stay stable while the internal types grow, and each field here has a bound a client can read
(lengths, counts) instead of finding it by trial.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from askdocs.types import Answer, DocumentRecord
from ingest.pipeline import IngestOutcome

COLLECTION = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"  # retrieval.stores.COLLECTION_NAME, for the schema
MAX_QUESTION_CHARS = 4000
MAX_HISTORY_TURNS = 20


class HistoryTurn(BaseModel):
    question: str = Field(max_length=MAX_QUESTION_CHARS)
    answer: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, examples=["What does list.sort() return?"]
    )
    collection: str | None = Field(
        None, pattern=COLLECTION, description="Default: ASKDOCS_DEFAULT_COLLECTION."
    )
    history: list[HistoryTurn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    doc_ids: list[str] | None = Field(
        None, max_length=1000, description="Search only these documents (ids from the document list)."
    )


class CitationOut(BaseModel):
    number: int
    source: str
    page_start: int
    page_end: int
    snippet: str
    chunk_id: str


class SourceOut(BaseModel):
    number: int
    source: str
    doc_id: str
    collection: str
    page_start: int
    page_end: int
    score: float
    text: str


class AnswerEvent(BaseModel):
    """The data of the final ``answer`` event of ``POST /ask``."""

    text: str = Field(
        description="The checked answer; it may differ from the streamed pieces (citations fixed)."
    )
    abstained: bool
    citations: list[CitationOut]
    sources: list[SourceOut]
    unsupported_sentences: list[str]
    query: str = Field(description="What was searched for (the question, or it joined to the previous one).")
    collection: str
    timings: dict[str, float]
    prompt_tokens: int
    completion_tokens: int
    backend: str
    incomplete: bool = Field(
        False, description="Generation broke off; `text` is what arrived (see the error event)."
    )
    cached: bool = Field(
        False,
        description="Served by the semantic cache from an earlier, similar question "
        "over the same collection and index version; no model was asked.",
    )
    tier: str = Field(
        "",
        description="With routing on: `fast` or `strong`, the generator chosen for this "
        "question; empty when routing is off.",
    )
    tier_reason: str = Field("", description="Why routing chose that tier, e.g. `comparison`.")

    @classmethod
    def of(cls, answer: Answer, collection: str) -> AnswerEvent:
        return cls(
            text=answer.text,
            abstained=answer.abstained,
            citations=[
                CitationOut(
                    number=c.number,
                    source=c.source,
                    page_start=c.page_start,
                    page_end=c.page_end,
                    snippet=c.snippet,
                    chunk_id=c.chunk_id,
                )
                for c in answer.citations
            ],
            sources=[
                SourceOut(
                    number=i,
                    source=h.chunk.source,
                    doc_id=h.chunk.doc_id,
                    collection=h.chunk.collection,
                    page_start=h.chunk.page_start,
                    page_end=h.chunk.page_end,
                    score=h.score,
                    text=h.chunk.text,
                )
                for i, h in enumerate(answer.sources, 1)
            ],
            unsupported_sentences=list(answer.unsupported_sentences),
            query=answer.query,
            collection=collection,
            timings=dict(answer.timings),
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            backend=answer.backend,
            incomplete=answer.incomplete,
            cached=answer.cached,
            tier=answer.tier,
            tier_reason=answer.tier_reason,
        )


class TokenEvent(BaseModel):
    text: str


class ErrorEvent(BaseModel):
    message: str
    partial: str = Field(description="The text already sent before the failure.")


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every 4xx/5xx body: a reason fit to show a user; for a malformed request, also each field's error."""

    detail: str
    errors: list[FieldError] | None = None


class CollectionOut(BaseModel):
    name: str
    documents: int
    chunks: int
    restricted: bool


class DocumentOut(BaseModel):
    doc_id: str
    source: str
    collection: str
    pages: int
    chunks: int
    size_bytes: int
    ingested_at: float
    kind: str

    @classmethod
    def of(cls, record: DocumentRecord) -> DocumentOut:
        return cls(**record.__dict__)


class IngestOut(BaseModel):
    source: str
    collection: str
    status: Literal["ingested", "updated", "unchanged", "refused", "deleted", "not found"]
    detail: str
    pages: int
    chunks: int
    seconds: float
    index: str = Field("", description="What happened to the keyword (BM25) index.")

    @classmethod
    def of(cls, outcome: IngestOutcome, collection: str, index: str = "") -> IngestOut:
        return cls(
            source=outcome.source,
            collection=collection,
            status=outcome.status,
            detail=outcome.detail,
            pages=outcome.pages,
            chunks=outcome.chunks,
            seconds=outcome.seconds,
            index=index,
        )


class Check(BaseModel):
    ok: bool
    detail: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    store: Check
    bm25: Check
    embedder: Check
    generator: Check
