"""The semantic cache: a question close enough to one already answered gets that answer at once.

Design choices:
- A hit needs the same *scope* and a close *question*. The scope is the collection, its index
  version (the BM25 version, which every ingest, update, delete and re-index bumps: see
  ``retrieval.bm25.BM25Directory.publish``), the documents the question was limited to, the
  generator, and the reranker in use (an adopted adaptation changes it while the app runs). "Close" is cosine similarity of the questions' embeddings (unit vectors, so a dot
  product) of at least ``threshold``; the default is measured in ``docs/benchmarks.md``.
- Any change to the index changes the version, so old answers are simply never matched again; they
  are dropped the next time something is stored for that collection, and the LRU bound drops the rest.
- Access: the key holds the collection, and every lookup asks the collection's *current* policy
  whether the asker may read it. Collections are the unit of access (there are no per-document
  rights), so everyone the policy allows would get the same retrieval and the same answer; anyone
  else misses, and the retriever then refuses them as it always does. A policy tightened after an
  answer was cached is therefore honoured at once.
- What the caller stores is its business (``AnswerPipeline`` never stores follow-ups, incomplete or
  stopped answers); the cache itself refuses incomplete ones as a second lock.
- Per process, in memory, bounded (LRU by use) and guarded by one lock: Streamlit sessions and the
  API's answer threads share it. Replicas each have their own; a shared one (Redis) is the scale-out
  step if a hit rate across replicas ever matters more than an extra embedding per miss.
- The question is embedded by the same embedder as the index (one extra embedding per question,
  ~10-20 ms for MiniLM on CPU; the retriever embeds again on a miss).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from askdocs.settings import Settings
from askdocs.types import Answer, Principal
from retrieval.bm25 import BM25Directory
from retrieval.embedders import Embedder
from retrieval.stores import CollectionPolicies


class IndexParts(Protocol):
    """What the cache reads of an index: its embedder, BM25 versions and policies (a runtime, a stack)."""

    @property
    def embedder(self) -> Embedder: ...
    @property
    def bm25(self) -> BM25Directory: ...
    @property
    def store(self) -> CollectionPolicies: ...


@dataclass(frozen=True)
class CacheScope:
    """What must be equal for two questions to share an answer."""

    collection: str
    index_version: str
    doc_ids: tuple[str, ...] | None  # sorted; None: the whole collection
    generator: str
    reranker: str = ""  # what ordered the passages; adopting an adaptation changes it without a restart


@dataclass(frozen=True)
class _Entry:
    scope: CacheScope
    vector: np.ndarray
    answer: Answer


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    entries: int


class SemanticCache:
    """Answers by question similarity within a scope, LRU-bounded and thread-safe.

    ``index_version(collection)`` and ``allows(collection, principal)`` come from the store the
    retriever searches, so the cache always sees the live version and policy.

    Example:
        >>> cache = SemanticCache(embedder, lambda c: str(bm25.current_version(c)),  # doctest: +SKIP
        ...                       lambda c, p: store.policy(c).allows(p), threshold=0.95)
        >>> cache.lookup("What does sort() return?", "default", None, "local:x", principal)  # doctest: +SKIP
    """

    def __init__(
        self,
        embedder: Embedder,
        index_version: Callable[[str], str],
        allows: Callable[[str, Principal | None], bool],
        threshold: float = 0.95,
        max_entries: int = 1000,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError("the similarity threshold must be in (0, 1]; 0 means no cache: do not build one")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.embedder = embedder
        self.index_version = index_version
        self.allows = allows
        self.threshold = threshold
        self.max_entries = max_entries
        self._entries: OrderedDict[int, _Entry] = OrderedDict()  # least recently used first
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    def scope(
        self, collection: str, doc_ids: Sequence[str] | None, generator: str, reranker: str = ""
    ) -> CacheScope:
        ids = None if doc_ids is None else tuple(sorted(set(doc_ids)))
        return CacheScope(collection, str(self.index_version(collection)), ids, generator, reranker)

    def embed(self, question: str) -> np.ndarray:
        vector = np.asarray(self.embedder.embed([question.strip()])[0], dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def lookup(
        self, vector: np.ndarray, scope: CacheScope, principal: Principal | None
    ) -> tuple[Answer, float] | None:
        """The most similar cached answer in ``scope`` at or above the threshold, and its similarity."""
        if not self.allows(scope.collection, principal):
            with self._lock:
                self._misses += 1
            return None
        with self._lock:
            best_id, best = None, -1.0
            for entry_id, entry in self._entries.items():
                if entry.scope == scope:
                    similarity = float(np.dot(entry.vector, vector))
                    if similarity > best:
                        best_id, best = entry_id, similarity
            if best_id is None or best < self.threshold:
                self._misses += 1
                return None
            self._entries.move_to_end(best_id)
            self._hits += 1
            return self._entries[best_id].answer, best

    def store(self, vector: np.ndarray, scope: CacheScope, answer: Answer) -> bool:
        """Keep ``answer`` for questions near ``vector`` in ``scope``; False when it may not be kept."""
        if answer.incomplete or answer.cached:
            return False
        with self._lock:
            # Answers over an older version of this collection can never match again: drop them now.
            stale = [
                i
                for i, e in self._entries.items()
                if e.scope.collection == scope.collection and e.scope.index_version != scope.index_version
            ]
            for entry_id in stale:
                del self._entries[entry_id]
            self._entries[next(self._ids)] = _Entry(scope, vector, answer)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries))


def served_from_cache(answer: Answer, question: str, seconds: float) -> Answer:
    """``answer`` as the reply to ``question``: marked cached, timed, and no tokens spent."""
    return replace(
        answer,
        question=question,
        query=question.strip(),
        cached=True,
        timings={"cache_lookup": seconds, "total": seconds},
        prompt_tokens=0,
        completion_tokens=0,
    )


def cache_from_settings(stack: IndexParts, settings: Settings) -> SemanticCache | None:
    """A process's cache over ``stack``'s index versions and policies; None when it is off."""
    if settings.cache_similarity <= 0:
        return None
    return SemanticCache(
        stack.embedder,
        lambda collection: str(stack.bm25.current_version(collection)),
        lambda collection, principal: stack.store.policy(collection).allows(principal),
        settings.cache_similarity,
        settings.cache_entries,
    )
