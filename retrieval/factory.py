"""Building the retrieval parts from settings, once per process.

The store comes from ``retrieval.stores.store_from_settings`` (in server mode wrapped so that a
server going away raises ``StoreUnavailable``, see ``retrieval.stores.reachable``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from askdocs.settings import Settings
from retrieval.bm25 import BM25Directory
from retrieval.embedders import Embedder, embedder_from_settings
from retrieval.hybrid import HybridConfig, HybridRetriever
from retrieval.rerankers import Reranker, load_reranker, reranker_from_settings
from retrieval.rerankers.per_collection import CollectionRerankers
from retrieval.stores import StoreLocked, StoreUnavailable, VectorStore, store_from_settings


@dataclass(frozen=True)
class RetrievalStack:
    store: VectorStore
    embedder: Embedder
    bm25: BM25Directory
    retriever: HybridRetriever

    def close(self) -> None:
        self.store.close()


def open_retrieval(
    settings: Settings, embedder: Embedder | None = None, reranker: Reranker | None = None
) -> RetrievalStack:
    """Open the store (taking the embedded lock first, before loading any model) and the models.

    A caller that already holds the models (the app lending them to an evaluation) passes them in.
    """
    store = store_from_settings(settings)
    try:
        embedder = embedder or embedder_from_settings(settings)
        if reranker is None:
            reranker = reranker_from_settings(settings)
    except BaseException:
        store.close()
        raise
    identity = getattr(embedder, "identity", None) or getattr(embedder, "spec", None)
    if identity:  # an embedder that names itself (test fakes may not): its collections hold only its vectors
        store.bind_embedder(identity)
    bm25 = BM25Directory(settings.bm25_dir)
    # a collection with an adopted adaptation (python -m tuning.adapt) reranks with it, others with the base
    rerankers = CollectionRerankers(
        settings.data_dir / "rerankers",
        reranker,
        load=lambda folder, max_length: load_reranker(folder, settings, max_length),
    )
    retriever = HybridRetriever(
        store, embedder, bm25, HybridConfig.from_settings(settings), reranker, rerankers.for_collection
    )
    return RetrievalStack(store, embedder, bm25, retriever)


def open_for_command_line(settings: Settings) -> RetrievalStack | None:
    """``open_retrieval`` for a CLI: a store owned by another process, or a server down, is reported, not raised."""
    try:
        return open_retrieval(settings)
    except (StoreLocked, StoreUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return None
