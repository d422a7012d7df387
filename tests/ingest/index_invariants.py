"""What a consistent index is, and a store that crashes on cue, for the crash-safety tests.

``index_problems`` recomputes every invariant from the raw store and BM25 files, independently of
``retrieval.consistency`` (whose own verdict is checked too), so a bug in the checker cannot hide
itself.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

from retrieval.bm25 import BM25Directory
from retrieval.consistency import check
from retrieval.stores import VectorStore


class TinyEmbedder:
    """A fast deterministic stand-in: a hashed bag of words, 32 dimensions, whitespace tokens."""

    spec = "test:tiny-hash"
    dimension = 32
    max_tokens = 10_000

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, 0] = 0.01  # never the zero vector
            for word in text.lower().split():
                out[row, 1 + int(hashlib.sha1(word.encode()).hexdigest(), 16) % (self.dimension - 1)] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def documents_by_source(store: VectorStore, collection: str) -> dict[str, tuple[str, frozenset[str]]]:
    """source -> (catalogue version, ids of the chunks stored for that document)."""
    ids: dict[str, set[str]] = {}
    for chunk_id, doc_id, _source, _version, _position in store.iter_chunk_refs(collection):
        ids.setdefault(doc_id, set()).add(chunk_id)
    return {r.source: (r.version, frozenset(ids.get(r.doc_id, ()))) for r in store.documents(collection)}


def index_problems(store: VectorStore, bm25: BM25Directory, collection: str) -> list[str]:
    """Every broken invariant, as readable strings; empty when the index is consistent."""
    problems = []
    chunks = list(store.iter_chunks(collection))
    records = {r.doc_id: r for r in store.documents(collection)}
    ids = Counter(c.chunk_id for c in chunks)
    problems += [f"duplicate chunk id {cid}" for cid, n in ids.items() if n > 1]
    same = Counter((c.doc_id, c.position, c.text) for c in chunks)
    problems += [f"duplicate chunk {key[:2]}" for key, n in same.items() if n > 1]
    if store.count(collection) != len(chunks):
        problems.append(f"count() says {store.count(collection)}, iteration found {len(chunks)}")
    per_doc = Counter(c.doc_id for c in chunks)
    for chunk in chunks:
        record = records.get(chunk.doc_id)
        if record is None:
            problems.append(f"chunk {chunk.chunk_id} of {chunk.source} has no catalogue record")
        elif record.version != chunk.version:
            problems.append(f"chunk {chunk.chunk_id} of {chunk.source} is not at the catalogue's version")
    for record in records.values():
        if per_doc[record.doc_id] != record.chunks:
            stored = per_doc[record.doc_id]
            problems.append(f"{record.source}: catalogue {record.chunks} chunks, store {stored}")
    indexed = bm25.get(collection).chunk_ids
    if sorted(indexed) != sorted(ids):
        problems.append(f"BM25 holds {len(indexed)} ids, the store {len(ids)} (or different ones)")
    problems += [f"checker: {p.kind}: {p.detail}" for p in check(store, bm25, [collection]).problems]
    return problems


class Crash(Exception):
    """Stands for the process dying: nothing after it runs."""


class CrashingStore:
    """The real store, except that its ``crash_at``-th write raises instead of running."""

    WRITES = {"upsert", "put_document", "delete_document"}

    def __init__(self, store: VectorStore, crash_at: int, counter: list[int]) -> None:
        self._store, self._crash_at, self._counter = store, crash_at, counter

    def __getattr__(self, name: str):  # noqa: ANN204
        attr = getattr(self._store, name)
        if name not in self.WRITES:
            return attr

        def write(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            tick(self._counter, self._crash_at)
            return attr(*args, **kwargs)

        return write


def tick(counter: list[int], crash_at: int) -> None:
    """Count one write; raise ``Crash`` instead when it is write number ``crash_at`` (from 0)."""
    counter[0] += 1
    if counter[0] - 1 == crash_at:
        raise Crash
