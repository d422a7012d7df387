"""A VectorStore in memory: the proof that a store backend is one module plus one registry line.

Brute-force cosine over numpy vectors, dicts for the catalogue and the policies; nothing persists and
nothing is locked, so it is for tests only. ``StoreBase`` brings the embedder binding and the checks
around a write; this module brings only the storage. It is registered by the tests
(``STORES.add("memory", MemoryStore)``), never by the product.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from askdocs.settings import Settings
from askdocs.types import Chunk, DocumentRecord
from retrieval.access import CollectionPolicy
from retrieval.stores import check_collection_name
from retrieval.stores.base import StoreBase


class MemoryStore(StoreBase):
    def __init__(self) -> None:
        super().__init__()
        self._chunks: dict[str, dict[str, tuple[Chunk, np.ndarray]]] = {}  # collection -> id -> row
        self._documents: dict[str, dict[str, DocumentRecord]] = {}
        self._policies: dict[str, CollectionPolicy] = {}
        self._embedders: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryStore:
        return cls()

    def close(self) -> None:
        pass

    # -- collections ---------------------------------------------------------------------------
    def _rows(self, collection: str, create: bool = False) -> dict[str, tuple[Chunk, np.ndarray]]:
        check_collection_name(collection)
        if create and collection not in self._chunks:
            self._chunks[collection] = {}
            if self._embedder:  # a collection records its embedder when it is made, as Chroma's does
                self._embedders[collection] = self._embedder
        return self._chunks.get(collection, {})

    def collections(self) -> list[str]:
        return sorted(self._chunks)

    def create_collection(self, collection: str) -> None:
        self._rows(collection, create=True)

    def count(self, collection: str) -> int:
        return len(self._rows(collection))

    def policy(self, collection: str) -> CollectionPolicy:
        return self._policies.get(collection, CollectionPolicy())

    def set_policy(self, collection: str, policy: CollectionPolicy) -> None:
        self._rows(collection, create=True)
        self._policies[collection] = CollectionPolicy.restricted_to(policy.users, policy.groups)

    def _recorded_embedder(self, collection: str) -> str | None:
        self._rows(collection, create=True)
        return self._embedders.get(collection)

    def _record_embedder(self, collection: str, identity: str) -> None:
        self._embedders[collection] = identity

    # -- chunks ----------------------------------------------------------------------------------
    def _write(self, collection: str, chunks: list[Chunk], embeddings: np.ndarray) -> None:
        rows = self._rows(collection, create=True)
        for chunk, vector in zip(chunks, embeddings):
            rows[chunk.chunk_id] = (chunk, vector)

    def delete_document(self, collection: str, doc_id: str, keep_version: str | None = None) -> None:
        if keep_version is None:
            self._documents.get(collection, {}).pop(doc_id, None)
        rows = self._rows(collection)
        for chunk_id in [i for i, (c, _) in rows.items() if c.doc_id == doc_id and c.version != keep_version]:
            del rows[chunk_id]

    def query(
        self, collection: str, embedding: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        stored = self._rows(collection)
        if not stored or k <= 0:
            return []
        self._check_embedder(collection, writing=False)
        rows = [r for r in stored.values() if not doc_ids or r[0].doc_id in doc_ids]
        if not rows:
            return []
        vectors = np.stack([v for _, v in rows])
        query = np.asarray(embedding, dtype=np.float32)
        similarity = (vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
        best = np.argsort(-similarity, kind="stable")[:k]
        return [(rows[i][0], float(similarity[i])) for i in best]

    def get_chunks(self, collection: str, chunk_ids: Sequence[str]) -> list[Chunk]:
        rows = self._rows(collection)
        return [rows[i][0] for i in chunk_ids if i in rows]

    def chunks_on_page(self, collection: str, doc_id: str, page: int) -> list[Chunk]:
        on_page = [
            c
            for c, _ in self._rows(collection).values()
            if c.doc_id == doc_id and c.page_start <= page <= c.page_end
        ]
        return sorted(on_page, key=lambda c: c.position)

    def chunk_ids(self, collection: str) -> list[str]:
        return list(self._rows(collection))

    def iter_chunks(self, collection: str) -> Iterator[Chunk]:
        for chunk, _ in list(self._rows(collection).values()):
            yield chunk

    def iter_chunk_vectors(self, collection: str) -> Iterator[tuple[Chunk, np.ndarray]]:
        yield from list(self._rows(collection).values())

    def iter_chunk_refs(self, collection: str) -> Iterator[tuple[str, str, str, str, int]]:
        for c in self.iter_chunks(collection):
            yield c.chunk_id, c.doc_id, c.source, c.version, c.position

    # -- catalogue -----------------------------------------------------------------------------
    def put_document(self, record: DocumentRecord) -> None:
        self._documents.setdefault(check_collection_name(record.collection), {})[record.doc_id] = record

    def document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        return self._documents.get(collection, {}).get(doc_id)

    def documents(self, collection: str) -> list[DocumentRecord]:
        return sorted(self._documents.get(collection, {}).values(), key=lambda r: r.source)
