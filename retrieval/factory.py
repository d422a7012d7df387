"""Building the retrieval parts from settings, once per process."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from askdocs.settings import Settings
from retrieval.bm25 import BM25Directory
from retrieval.embedder import Embedder, embedder_from_settings
from retrieval.hybrid import HybridConfig, HybridRetriever
from retrieval.rerank import CrossEncoderReranker, Reranker
from retrieval.store import ChromaStore, StoreLocked


@dataclass(frozen=True)
class RetrievalStack:
    store: ChromaStore
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
    store = ChromaStore.from_settings(settings)
    try:
        embedder = embedder or embedder_from_settings(settings)
        if reranker is None and settings.reranker:
            reranker = CrossEncoderReranker(settings.reranker, settings.device)
    except BaseException:
        store.close()
        raise
    bm25 = BM25Directory(settings.bm25_dir)
    retriever = HybridRetriever(store, embedder, bm25, HybridConfig.from_settings(settings), reranker)
    return RetrievalStack(store, embedder, bm25, retriever)


def open_for_command_line(settings: Settings) -> RetrievalStack | None:
    """``open_retrieval`` for a CLI: a store owned by another process is reported, not raised."""
    try:
        return open_retrieval(settings)
    except StoreLocked as error:
        print(f"error: {error}", file=sys.stderr)
        return None
