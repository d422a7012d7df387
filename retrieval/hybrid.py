"""The hybrid retriever: BM25 and dense candidates, fused, optionally reranked.

Every returned chunk keeps its rank and score at each stage it went through
(``bm25``, ``dense``, ``fused``, ``rerank``), so a user can see why it was
retrieved and the evaluation suite can score each stage alone. A ranker with
weight 0 is not run at all, which is how "BM25 only" and "dense only" are
configured.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol

from askdocs.settings import RetrievalTuning
from askdocs.types import Chunk, Principal, RetrievedChunk, StageScore
from retrieval.access import AccessDenied
from retrieval.bm25 import BM25Directory, tokenize
from retrieval.embedders import Embedder
from retrieval.fusion import weighted_rrf
from retrieval.rerankers import Reranker, RerankFusion, rerank_order
from retrieval.stores import VectorStore


@dataclass(frozen=True)
class Retrieval:
    """The outcome of one search."""

    query: str
    hits: tuple[RetrievedChunk, ...]
    # Best cosine similarity among dense candidates: one confidence signal for abstaining.
    best_dense_similarity: float | None
    timings: dict[str, float] = field(default_factory=dict)
    # Share of the query's keywords found in the best BM25 chunk: the other signal. Dense similarity
    # alone misses questions about names the embedder never learned ("itemgetter", "attrgetter").
    keyword_coverage: float | None = None


class Retriever(Protocol):
    def retrieve(
        self,
        query: str,
        collection: str,
        k: int | None = None,
        doc_ids: Sequence[str] | None = None,
        principal: Principal | None = None,
    ) -> Retrieval: ...


_TUNED = RetrievalTuning()  # the one source of these defaults (askdocs.settings)


@dataclass(frozen=True)
class HybridConfig:
    bm25_candidates: int = _TUNED.bm25_candidates
    dense_candidates: int = _TUNED.dense_candidates
    bm25_weight: float = _TUNED.bm25_weight
    dense_weight: float = _TUNED.dense_weight
    rrf_k: int = _TUNED.rrf_k
    rerank_candidates: int = _TUNED.rerank_candidates
    top_k: int = _TUNED.top_k
    # BM25's weight for a query that names code (``sort()``, ``os.path``, ``snake_case``); None: bm25_weight.
    # Dense models know such names poorly, natural-language questions barely need BM25 (docs/evaluation.md).
    bm25_weight_code: float | None = _TUNED.bm25_weight_code
    rerank_fusion: RerankFusion = _TUNED.rerank_fusion  # retrieval.rerankers.rerank_order

    def bm25_weight_for(self, query: str) -> float:
        if self.bm25_weight_code is not None and names_code(query):
            return self.bm25_weight_code
        return self.bm25_weight

    def __post_init__(self) -> None:
        if self.bm25_weight <= 0 and self.dense_weight <= 0:
            raise ValueError("at least one of the BM25 and dense weights must be positive")
        if self.bm25_weight_code is not None and self.bm25_weight_code <= 0 and self.dense_weight <= 0:
            raise ValueError("with dense search off, BM25's weight for queries naming code must be positive")

    @classmethod
    def from_settings(cls, s: RetrievalTuning) -> HybridConfig:
        return cls(**{f.name: getattr(s, f.name) for f in fields(cls)})


# f(), snake_case, dotted.names (2+ characters a side: not "e.g." or "U.S."), camelCase (not "eBay", "macOS").
_CODE_NAME = re.compile(r"\w+\(\)|\b[A-Za-z]\w*_\w+|\b[A-Za-z_]\w+\.[A-Za-z_]\w+|\b[a-z]{2,}[A-Z][a-z]\w*")


def names_code(query: str) -> bool:
    """True when the query names an identifier: ``f()``, ``dotted.name``, ``snake_case`` or ``camelCase``."""
    return bool(_CODE_NAME.search(query))


class HybridRetriever:
    """A :class:`Retriever` fusing bm25s and Chroma results with weighted RRF.

    Example:
        >>> retriever = HybridRetriever(store, embedder, bm25, HybridConfig())  # doctest: +SKIP
        >>> [h.chunk.source for h in retriever.retrieve("how do I sort?", "default").hits]  # doctest: +SKIP
        ['python_sorting_howto.pdf', ...]
    """

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        bm25: BM25Directory,
        config: HybridConfig,
        reranker: Reranker | None = None,
        rerankers: Callable[[str], Reranker | None] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.bm25 = bm25
        self.config = config
        self.reranker = reranker  # the base: what every collection uses unless ``rerankers`` says otherwise
        # collection -> its reranker (retrieval.rerankers.per_collection.CollectionRerankers: an adopted
        # adaptation, else the base)
        self.rerankers = rerankers

    def reranker_for(self, collection: str) -> Reranker | None:
        """The reranker a search of ``collection`` uses now: its adopted adaptation, else the base."""
        return self.rerankers(collection) if self.rerankers else self.reranker

    def retrieve(
        self,
        query: str,
        collection: str,
        k: int | None = None,
        doc_ids: Sequence[str] | None = None,
        principal: Principal | None = None,
    ) -> Retrieval:
        """Search ``collection`` as ``principal`` (``None``: the trusted local operator).

        Raises:
            AccessDenied: the collection is restricted and ``principal`` is not among its readers.
        """
        self._check_access(collection, principal)
        cfg = self.config
        k = k or cfg.top_k
        reranker = self.reranker_for(collection)
        found = _Candidates()
        bm25_weight = cfg.bm25_weight_for(query)
        if bm25_weight > 0:
            self._bm25_candidates(query, collection, doc_ids, found)
        if cfg.dense_weight > 0:
            self._dense_candidates(query, collection, doc_ids, found)
        depth = cfg.rerank_candidates if reranker else k
        candidates = self._fuse(collection, bm25_weight, max(depth, k), found)
        if reranker and candidates:
            candidates = self._rerank(query, reranker, candidates, found.timings)
        coverage = self._keyword_coverage(query, collection, found)
        return Retrieval(query, tuple(candidates[:k]), found.best_similarity, found.timings, coverage)

    def _check_access(self, collection: str, principal: Principal | None) -> None:
        if not self.store.policy(collection).allows(principal):
            raise AccessDenied(f"you do not have access to the collection {collection!r}")

    def _bm25_candidates(
        self, query: str, collection: str, doc_ids: Sequence[str] | None, found: _Candidates
    ) -> None:
        started = time.perf_counter()
        hits = self.bm25.get(collection).search(query, self.config.bm25_candidates, doc_ids)
        found.rankings["bm25"] = [h.chunk_id for h in hits]
        found.stage_scores["bm25"] = {
            h.chunk_id: StageScore("bm25", rank, h.score) for rank, h in enumerate(hits, 1)
        }
        found.timings["bm25"] = time.perf_counter() - started

    def _dense_candidates(
        self, query: str, collection: str, doc_ids: Sequence[str] | None, found: _Candidates
    ) -> None:
        started = time.perf_counter()
        vector = self.embedder.embed([query])[0]
        found.timings["embed_query"] = time.perf_counter() - started
        started = time.perf_counter()
        dense = self.store.query(collection, vector, self.config.dense_candidates, doc_ids)
        found.rankings["dense"] = [c.chunk_id for c, _ in dense]
        found.stage_scores["dense"] = {
            c.chunk_id: StageScore("dense", rank, sim) for rank, (c, sim) in enumerate(dense, 1)
        }
        found.chunks.update({c.chunk_id: c for c, _ in dense})
        found.best_similarity = max((sim for _, sim in dense), default=None)
        found.timings["dense"] = time.perf_counter() - started

    def _fuse(
        self, collection: str, bm25_weight: float, depth: int, found: _Candidates
    ) -> list[RetrievedChunk]:
        """The top ``depth`` of the fused ranking, each chunk carrying its score at every stage so far."""
        cfg = self.config
        started = time.perf_counter()
        fused = weighted_rrf(found.rankings, {"bm25": bm25_weight, "dense": cfg.dense_weight}, cfg.rrf_k)
        fused = fused[:depth]
        chunks = found.chunks
        missing = [cid for cid, _ in fused if cid not in chunks]
        chunks.update({c.chunk_id: c for c in self.store.get_chunks(collection, missing)})
        # A chunk deleted between the BM25 rebuild and now is simply dropped.
        fused = [(cid, score) for cid, score in fused if cid in chunks]
        stage_scores = found.stage_scores
        candidates = [
            RetrievedChunk(
                chunk=chunks[cid],
                score=score,
                stages=tuple(
                    stage_scores[name][cid] for name in ("bm25", "dense") if cid in stage_scores.get(name, {})
                )
                + (StageScore("fused", rank, score),),
            )
            for rank, (cid, score) in enumerate(fused, 1)
        ]
        found.timings["fuse"] = time.perf_counter() - started
        return candidates

    def _rerank(
        self, query: str, reranker: Reranker, candidates: list[RetrievedChunk], timings: dict[str, float]
    ) -> list[RetrievedChunk]:
        # Only the top ``rerank_candidates`` are rescored (the cross-encoder is the slow stage);
        # deeper candidates keep their fused order behind them, so recall at depth is unchanged.
        cfg = self.config
        started = time.perf_counter()
        head, tail = candidates[: cfg.rerank_candidates], candidates[cfg.rerank_candidates :]
        scores = reranker.score(query, [c.chunk.text for c in head])
        reranker_rank = {i: rank for rank, (i, _) in enumerate(rerank_order(scores), 1)}
        reranked = [
            RetrievedChunk(
                chunk=head[i].chunk,
                score=score,
                stages=head[i].stages + (StageScore("rerank", reranker_rank[i], scores[i]),),
            )
            for i, score in rerank_order(scores, cfg.rerank_fusion, cfg.rrf_k)
        ] + tail
        timings["rerank"] = time.perf_counter() - started
        return reranked

    def _keyword_coverage(self, query: str, collection: str, found: _Candidates) -> float | None:
        """The share of the query's terms in the best BM25 chunk (None without BM25 hits or terms)."""
        if not found.rankings.get("bm25"):
            return None
        best = found.chunks.get(found.rankings["bm25"][0]) or next(
            iter(self.store.get_chunks(collection, found.rankings["bm25"][:1])), None
        )
        terms = set(tokenize(query))
        if best is not None and terms:
            return len(terms & set(tokenize(best.text))) / len(terms)
        return None


@dataclass
class _Candidates:
    """What one search's rankers found so far, handed from stage to stage."""

    rankings: dict[str, list[str]] = field(default_factory=dict)  # ranker -> chunk ids, best first
    stage_scores: dict[str, dict[str, StageScore]] = field(
        default_factory=dict
    )  # ranker -> chunk id -> score
    chunks: dict[str, Chunk] = field(default_factory=dict)  # every chunk fetched so far, by id
    best_similarity: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
