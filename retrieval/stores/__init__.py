"""The store role: chunks with their vectors, the catalogue of documents, and collection policies.

A store holds three things for each askdocs collection, one Protocol each, so a caller can say which
part it needs: :class:`ChunkIndex` (chunks and their embeddings, searched by cosine similarity),
:class:`DocumentCatalogue` (one :class:`~askdocs.types.DocumentRecord` per document, the commit point
of an ingestion, see ``retrieval.consistency``) and :class:`CollectionPolicies` (which collections
exist and who may read them). :class:`VectorStore` is all three plus the embedder binding and
``close``; it is what ``store_from_settings`` returns and what every caller is typed against.

Design choices:
- A store never embeds: every write and query passes vectors computed by our embedder.
- A collection name is 1-63 letters, digits, ``-`` or ``_`` (:data:`COLLECTION_NAME`), checked by
  the store, so names are safe in a path, a URL and a Chroma collection name alike.
- A store bound to an embedder (``bind_embedder``) refuses to write to or query a collection built by
  another one: vectors of two embedders in one index would be compared as if alike
  (:class:`~retrieval.stores.base.StoreBase` owns that rule for every backend).
- Backends are chosen by ``Settings.store_backend`` through :data:`STORES`. A new backend is one
  module holding a ``StoreBase`` subclass with a ``from_settings`` classmethod, and one line in
  :data:`STORES`; ``tests/support/memory_store.py`` is one, registered only by the tests.

Example:
    >>> store = store_from_settings(load_settings())  # doctest: +SKIP
    >>> store.collections()  # doctest: +SKIP
    ['default']
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Protocol, cast

import numpy as np

from askdocs.registry import Registry
from askdocs.settings import Settings
from askdocs.types import Chunk, DocumentRecord
from retrieval.access import CollectionPolicy

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class StoreLocked(RuntimeError):
    """Another process already owns the embedded Chroma folder."""


class EmbedderMismatch(RuntimeError):
    """A collection was built with another embedder (or runtime) than the one asking."""


class StoreUnavailable(RuntimeError):
    """The Chroma server (server mode) does not answer; a later call tries again."""


def check_collection_name(name: str) -> str:
    if not COLLECTION_NAME.match(name):
        raise ValueError(
            f"invalid collection name {name!r}: use 1-63 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


class ChunkIndex(Protocol):
    """Chunks and their vectors; an unknown collection reads as empty, never as an error."""

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None: ...
    def delete_document(self, collection: str, doc_id: str, keep_version: str | None = None) -> None:
        """Delete a document (record, then chunks), or only its chunks of versions other than ``keep_version``."""

    def query(
        self, collection: str, embedding: np.ndarray, k: int, doc_ids: Sequence[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        """The ``k`` nearest chunks with their cosine similarity, best first."""

    def get_chunks(self, collection: str, chunk_ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked; ids no longer stored are left out."""

    def chunks_on_page(self, collection: str, doc_id: str, page: int) -> list[Chunk]:
        """A document's chunks covering ``page``, in reading order."""

    def iter_chunks(self, collection: str) -> Iterator[Chunk]: ...
    def iter_chunk_vectors(self, collection: str) -> Iterator[tuple[Chunk, np.ndarray]]:
        """Every chunk with its stored vector (benchmarks reuse vectors instead of embedding again)."""

    def chunk_ids(self, collection: str) -> list[str]:
        """The id of every chunk, in storage order."""

    def iter_chunk_refs(self, collection: str) -> Iterator[tuple[str, str, str, str, int]]:
        """``(chunk_id, doc_id, source, version, position)`` of every chunk, without texts or vectors."""

    def count(self, collection: str) -> int: ...


class DocumentCatalogue(Protocol):
    """One record per document: its current version is the one its record names."""

    def put_document(self, record: DocumentRecord) -> None: ...
    def document(self, collection: str, doc_id: str) -> DocumentRecord | None: ...
    def documents(self, collection: str) -> list[DocumentRecord]:
        """Every record of ``collection``, sorted by source."""


class CollectionPolicies(Protocol):
    """Which collections exist, and who may read each."""

    def collections(self) -> list[str]:
        """The names of the collections that hold chunks (or were created), sorted."""

    def create_collection(self, collection: str) -> None: ...
    def policy(self, collection: str) -> CollectionPolicy:
        """Read fresh on every call (another replica may change it); unrestricted for an unknown collection."""

    def set_policy(self, collection: str, policy: CollectionPolicy) -> None: ...


class VectorStore(ChunkIndex, DocumentCatalogue, CollectionPolicies, Protocol):
    """A whole store, as ``store_from_settings`` opens it."""

    def bind_embedder(self, identity: str) -> None:
        """From now on, write and query only collections built by the embedder ``identity``."""

    def close(self) -> None:
        """Release what the store holds (clients, locks); idempotent."""


class StoreBackend(Protocol):
    """A registry entry: what opens one backend's store from the settings (a class's ``from_settings``)."""

    def from_settings(self, settings: Settings) -> VectorStore: ...


STORES: Registry[StoreBackend] = Registry(
    "store",
    {
        "chroma": "retrieval.stores.chroma:ChromaStore",
    },
)


def store_from_settings(settings: Settings) -> VectorStore:
    """Open the store ``settings.store_backend`` names; in server mode its "unreachable" errors are typed.

    Raises:
        UnknownBackend: ``store_backend`` names no registered store (the message lists the choices).
        StoreLocked: another process owns the embedded folder.
        StoreUnavailable: the server does not answer.
    """
    from retrieval.stores.reachable import ReachableStore  # it imports this module's error

    store = STORES.get(STORES.check(settings.store_backend, "store_backend")).from_settings(settings)
    if settings.chroma_mode == "server":
        store = cast(VectorStore, ReachableStore(store, settings.chroma_host, settings.chroma_port))
    return store
