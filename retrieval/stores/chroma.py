"""The Chroma store: chunks, their embeddings and the catalogue of documents, embedded or on a server.

Design choices:
- Chroma never embeds: collections are created with ``embedding_function=None``
  and every write and query passes vectors computed by our embedder (Chroma's
  default function downloads a model at run time, which fails offline).
- Each askdocs collection is two Chroma collections: its chunks (cosine HNSW)
  and a small catalogue with one record per document. Keeping the catalogue
  in Chroma too means a Chroma server shared by several replicas is the one
  source of truth; nothing lives in a local side file.
- Chroma is thread-safe but not process-safe on one local path, so the
  embedded store takes an exclusive lock on its folder; a second process gets
  a clear error telling it to use server mode instead of corrupting the data.
- The identity of the embedder that wrote a chunks collection (see ``retrieval.stores.base``) is kept
  in its Chroma metadata as ``askdocs_embedder``; the access policy is kept there too.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, overload

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from askdocs.settings import Settings
from askdocs.types import Chunk, DocumentRecord
from retrieval.access import CollectionPolicy
from retrieval.stores import StoreLocked, StoreUnavailable, check_collection_name
from retrieval.stores.base import StoreBase
from retrieval.stores.reachable import unavailable_message, unreachable

_PAGE = 500  # rows per Chroma get(), so huge collections stream instead of loading at once
_ID_PAGE = 20_000  # ids alone are small; Chroma refuses very large gets ("too many SQL variables")
# Rows per Chroma upsert, under its largest batch (5,461 on SQLite): 20k rows went in ~10-30 % faster in
# 5,000-row calls than in 500-row ones here, and bench.scale builds its 1M-chunk index this way.
_WRITE_PAGE = 5000


def _chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    return {
        "doc_id": chunk.doc_id,
        "source": chunk.source,
        "collection": chunk.collection,
        "version": chunk.version,
        "position": chunk.position,
        "page_start": chunk.page_start,
        "page_end": chunk.page_end,
    }


def _chunk_from(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        doc_id=str(meta["doc_id"]),
        source=str(meta["source"]),
        collection=str(meta["collection"]),
        version=str(meta["version"]),
        position=int(meta["position"]),
        text=text,
        page_start=int(meta["page_start"]),
        page_end=int(meta["page_end"]),
    )


class ChromaStore(StoreBase):
    """A :class:`~retrieval.stores.VectorStore` on Chroma, embedded (one folder) or a ``chroma run`` server.

    Example:
        >>> store = ChromaStore.from_settings(load_settings())  # doctest: +SKIP
        >>> store.collections()  # doctest: +SKIP
        ['default']
    """

    def __init__(self, client: chromadb.api.ClientAPI, lock_fd: int | None = None) -> None:
        super().__init__()
        self._client = client
        self._lock_fd = lock_fd
        self._cache: dict[str, Any] = {}

    def _recorded_embedder(self, collection: str) -> str | None:
        return (self._chroma(collection, "chunks").metadata or {}).get("askdocs_embedder")

    def _record_embedder(self, collection: str, identity: str) -> None:
        chunks = self._chroma(collection, "chunks")
        chunks.modify(metadata={**(chunks.metadata or {}), "askdocs_embedder": identity})

    @classmethod
    def from_settings(cls, settings: Settings) -> ChromaStore:
        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if settings.chroma_mode == "server":
            try:
                client = chromadb.HttpClient(
                    host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
                )
            except Exception as error:
                if unreachable(error):
                    raise StoreUnavailable(
                        unavailable_message(settings.chroma_host, settings.chroma_port)
                    ) from None
                raise
            return cls(client)
        settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock_folder(settings.chroma_dir)
        return cls(
            chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings), lock_fd
        )

    def close(self) -> None:
        """Release the client (SQLite handles, HNSW memory) and then the folder's lock; idempotent."""
        self._client.close()  # type: ignore[attr-defined]  # ClientAPI's stub omits close(); Client has it
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    # -- collections ---------------------------------------------------------------------------
    @overload
    def _chroma(self, collection: str, role: str, create: Literal[True] = ...) -> Any: ...
    @overload
    def _chroma(self, collection: str, role: str, create: bool) -> Any | None: ...
    def _chroma(self, collection: str, role: str, create: bool = True) -> Any | None:
        key = f"{role}:{collection}"
        if key not in self._cache:
            name = f"{check_collection_name(collection)}__{role}"
            if create:
                self._cache[key] = self._client.get_or_create_collection(
                    name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={
                        "askdocs_collection": collection,
                        "askdocs_role": role,
                        **(
                            {"askdocs_embedder": self._embedder}
                            if self._embedder and role == "chunks"
                            else {}
                        ),
                    },
                )
            else:
                try:
                    self._cache[key] = self._client.get_collection(name, embedding_function=None)
                except Exception as error:  # Chroma raises different types for "not found" across versions
                    if unreachable(error):
                        raise  # a server that is down is not a missing collection
                    return None
        return self._cache[key]

    def collections(self) -> list[str]:
        names = []
        for col in self._client.list_collections():
            meta = col.metadata or {}
            if meta.get("askdocs_role") == "chunks":
                names.append(str(meta["askdocs_collection"]))
        return sorted(names)

    def create_collection(self, collection: str) -> None:
        self._chroma(collection, "chunks")
        self._chroma(collection, "docs")

    def count(self, collection: str) -> int:
        chunks = self._chroma(collection, "chunks", create=False)
        return 0 if chunks is None else int(chunks.count())

    def policy(self, collection: str) -> CollectionPolicy:
        """Read fresh from Chroma on every call, so a change made by another replica applies at once."""
        try:
            metadata = self._client.get_collection(f"{check_collection_name(collection)}__chunks").metadata
        except Exception as error:  # not found: nothing to protect, and nothing will be found either
            if unreachable(error):
                raise
            return CollectionPolicy()
        return CollectionPolicy.from_metadata(metadata)

    def set_policy(self, collection: str, policy: CollectionPolicy) -> None:
        chunks = self._chroma(collection, "chunks")
        chunks.modify(metadata={**(chunks.metadata or {}), **policy.to_metadata()})

    # -- chunks ----------------------------------------------------------------------------------
    def _write(self, collection: str, chunks: list[Chunk], embeddings: np.ndarray) -> None:
        target = self._chroma(collection, "chunks")
        for start in range(0, len(chunks), _WRITE_PAGE):
            part = chunks[start : start + _WRITE_PAGE]
            target.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=embeddings[start : start + _WRITE_PAGE],
                documents=[c.text for c in part],
                metadatas=[_chunk_metadata(c) for c in part],
            )

    def delete_document(self, collection: str, doc_id: str, keep_version: str | None = None) -> None:
        """Delete a document (record, then chunks), or only its chunks of versions other than ``keep_version``.

        The catalogue record goes first: it is the commit point (see ``retrieval.consistency``), so a
        crash in between leaves chunks without a record, which the start-up repair deletes.
        """
        if keep_version is None:
            docs = self._chroma(collection, "docs", create=False)
            if docs is not None:
                docs.delete(ids=[doc_id])
        chunks = self._chroma(collection, "chunks", create=False)
        if chunks is not None:
            where: dict[str, Any] = {"doc_id": doc_id}
            if keep_version is not None:
                where = {"$and": [{"doc_id": doc_id}, {"version": {"$ne": keep_version}}]}
            chunks.delete(where=where)

    def query(
        self, collection: str, embedding: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks with their cosine similarity (1 - Chroma's cosine distance)."""
        chunks = self._chroma(collection, "chunks", create=False)
        if chunks is None or k <= 0:
            return []
        self._check_embedder(collection, writing=False)
        where = {"doc_id": {"$in": list(doc_ids)}} if doc_ids else None
        found = chunks.query(
            query_embeddings=np.asarray([embedding], dtype=np.float32),
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            (_chunk_from(cid, text, meta), 1.0 - float(dist))
            for cid, text, meta, dist in zip(
                found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0]
            )
        ]

    def get_chunks(self, collection: str, chunk_ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked; ids no longer stored are left out."""
        chunks = self._chroma(collection, "chunks", create=False)
        if chunks is None or not chunk_ids:
            return []
        found = chunks.get(ids=list(chunk_ids), include=["documents", "metadatas"])
        by_id = {
            cid: _chunk_from(cid, text, meta)
            for cid, text, meta in zip(found["ids"], found["documents"], found["metadatas"])
        }
        return [by_id[cid] for cid in chunk_ids if cid in by_id]

    def chunks_on_page(self, collection: str, doc_id: str, page: int) -> list[Chunk]:
        """A document's chunks covering ``page``, in reading order: the passage's surrounding context."""
        chunks = self._chroma(collection, "chunks", create=False)
        if chunks is None:
            return []
        where = {"$and": [{"doc_id": doc_id}, {"page_start": {"$lte": page}}, {"page_end": {"$gte": page}}]}
        found = chunks.get(where=where, include=["documents", "metadatas"])
        return sorted(
            (_chunk_from(c, t, m) for c, t, m in zip(found["ids"], found["documents"], found["metadatas"])),
            key=lambda c: c.position,
        )

    def chunk_ids(self, collection: str) -> list[str]:
        """The id of every chunk, in storage order: ids alone read fast (~0.3 s for 100k chunks)."""
        chunks = self._chroma(collection, "chunks", create=False)
        ids: list[str] = []
        while chunks is not None:
            page = chunks.get(include=[], limit=_ID_PAGE, offset=len(ids))
            if not page["ids"]:
                break
            ids += page["ids"]
        return ids

    def _pages(self, collection: str, include: list[str]) -> Iterator[dict[str, Any]]:
        # Pages by id, not by offset: Chroma skips an offset row by row, so offset pages of metadata
        # took 25 s over 100k chunks (quadratic), against ~1 s listing the ids and asking for them.
        chunks = self._chroma(collection, "chunks", create=False)
        if chunks is None:
            return
        ids = self.chunk_ids(collection)
        for start in range(0, len(ids), _PAGE):
            found = chunks.get(ids=ids[start : start + _PAGE], include=include)
            order = {cid: n for n, cid in enumerate(found["ids"])}
            wanted = [cid for cid in ids[start : start + _PAGE] if cid in order]  # deleted meanwhile: skipped
            yield {"ids": wanted, **{key: [found[key][order[cid]] for cid in wanted] for key in include}}

    def iter_chunks(self, collection: str) -> Iterator[Chunk]:
        for page in self._pages(collection, ["documents", "metadatas"]):
            for cid, text, meta in zip(page["ids"], page["documents"], page["metadatas"]):
                yield _chunk_from(cid, text, meta)

    def iter_chunk_vectors(self, collection: str) -> Iterator[tuple[Chunk, np.ndarray]]:
        for page in self._pages(collection, ["documents", "metadatas", "embeddings"]):
            for cid, text, meta, vector in zip(
                page["ids"], page["documents"], page["metadatas"], page["embeddings"]
            ):
                yield _chunk_from(cid, text, meta), np.asarray(vector, dtype=np.float32)

    def iter_chunk_refs(self, collection: str) -> Iterator[tuple[str, str, str, str, int]]:
        """``(chunk_id, doc_id, source, version, position)`` of every chunk, without texts or vectors."""
        for page in self._pages(collection, ["metadatas"]):
            for cid, meta in zip(page["ids"], page["metadatas"]):
                yield (
                    cid,
                    str(meta["doc_id"]),
                    str(meta["source"]),
                    str(meta["version"]),
                    int(meta["position"]),
                )

    # -- catalogue -----------------------------------------------------------------------------
    def put_document(self, record: DocumentRecord) -> None:
        docs = self._chroma(record.collection, "docs")
        meta = {k: v for k, v in record.__dict__.items() if k != "doc_id"}
        # The catalogue is looked up by id only; a constant vector keeps Chroma's schema happy.
        docs.upsert(ids=[record.doc_id], embeddings=[[1.0]], metadatas=[meta])

    def document(self, collection: str, doc_id: str) -> DocumentRecord | None:
        docs = self._chroma(collection, "docs", create=False)
        if docs is None:
            return None
        found = docs.get(ids=[doc_id], include=["metadatas"])
        return DocumentRecord(doc_id=doc_id, **found["metadatas"][0]) if found["ids"] else None

    def documents(self, collection: str) -> list[DocumentRecord]:
        docs = self._chroma(collection, "docs", create=False)
        if docs is None:
            return []
        found = docs.get(include=["metadatas"])
        records = [DocumentRecord(doc_id=i, **m) for i, m in zip(found["ids"], found["metadatas"])]
        return sorted(records, key=lambda r: r.source)


def _lock_folder(folder: Path) -> int:
    fd = os.open(folder / ".askdocs.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLocked(
            f"another askdocs process is using the embedded store at {folder}. "
            "Stop it, or run Chroma as a server (chroma run --path ...) and set ASKDOCS_CHROMA_MODE=server "
            "so several processes can share it."
        ) from None
    return fd
