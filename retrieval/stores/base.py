"""What every store backend does the same way: the embedder binding and the checks around a write.

A collection records the identity of the embedder that wrote it (e.g. ``pkg:all-minilm-l6-v2`` or
``pkg:all-minilm-l6-v2#onnx-int8``) when a store is bound to one, and a store bound to another refuses
to write to or query it: vectors of two embedders (or of float32 and int8 runs of one) in one index
would be compared as if alike. A collection written before this was recorded holds torch vectors of
the spec, the only runtime there was. The rule lives here once; a backend only says where it keeps
the identity (``_recorded_embedder`` / ``_record_embedder``) and how it writes rows (``_write``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from askdocs.types import Chunk
from retrieval.stores import EmbedderMismatch


class StoreBase:
    """The shared half of a :class:`~retrieval.stores.VectorStore`; a backend adds the storage."""

    def __init__(self) -> None:
        self._embedder: str | None = None  # identity of the embedder whose vectors this store takes
        self._matching: set[str] = set()

    def bind_embedder(self, identity: str) -> None:
        """From now on, write and query only collections built by the embedder ``identity``."""
        self._embedder, self._matching = identity, set()

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        """Write chunks with their vectors; chunks of several collections go to each one's collection."""
        if not chunks:
            return
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        by_collection: dict[str, list[int]] = {}
        for i, chunk in enumerate(chunks):
            by_collection.setdefault(chunk.collection, []).append(i)
        for collection, rows in by_collection.items():
            self._check_embedder(collection, writing=True)
            self._write(collection, [chunks[i] for i in rows], np.asarray(embeddings, dtype=np.float32)[rows])

    def _check_embedder(self, collection: str, writing: bool) -> None:
        """Refuse a collection of another embedder; on the first write, record this one's identity."""
        if self._embedder is None or collection in self._matching:
            return
        recorded = self._recorded_embedder(collection)
        if recorded is None and self.count(collection):  # written before identities were recorded: see above
            recorded = self._embedder.split("#", 1)[0]
        if recorded is None and writing:
            self._record_embedder(collection, self._embedder)
        elif recorded is not None and recorded != self._embedder:
            raise EmbedderMismatch(
                f"collection {collection!r} was indexed with {recorded}, not {self._embedder}: its vectors "
                "cannot be compared. Set ASKDOCS_EMBEDDER / ASKDOCS_EMBEDDER_BACKEND back, or re-index it "
                "into a new collection."
            )
        if recorded is not None or writing:
            self._matching.add(collection)  # a recorded identity never changes: one check per process

    # -- what a backend provides -----------------------------------------------------------------
    def count(self, collection: str) -> int:
        raise NotImplementedError

    def _recorded_embedder(self, collection: str) -> str | None:
        """The identity recorded on ``collection`` (creating it for a write), or None."""
        raise NotImplementedError

    def _record_embedder(self, collection: str, identity: str) -> None:
        raise NotImplementedError

    def _write(self, collection: str, chunks: list[Chunk], embeddings: np.ndarray) -> None:
        """Upsert ``chunks`` (all of ``collection``) with their float32 ``embeddings``, row for row."""
        raise NotImplementedError
