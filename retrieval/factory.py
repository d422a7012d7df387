"""Building the retrieval parts from settings, once per process.

In server mode the store is wrapped so that a Chroma server going away raises one typed error,
:class:`StoreUnavailable`, from every store call, which the app catches and explains. Nothing is
reopened when the server returns: chromadb's HTTP client opens a new connection on the next call
(tested by stopping and restarting a real ``chroma run``), and collections keep their ids.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from askdocs.settings import Settings
from retrieval.bm25 import BM25Directory
from retrieval.embedders import Embedder, embedder_from_settings
from retrieval.hybrid import HybridConfig, HybridRetriever
from retrieval.rerankers import Reranker, load_reranker, reranker_from_settings
from retrieval.rerankers.per_collection import CollectionRerankers
from retrieval.store import ChromaStore, StoreLocked, StoreUnavailable, unavailable_message, unreachable


@dataclass(frozen=True)
class RetrievalStack:
    store: ChromaStore
    embedder: Embedder
    bm25: BM25Directory
    retriever: HybridRetriever

    def close(self) -> None:
        self.store.close()


class ReachableStore:
    """A server-mode :class:`ChromaStore` whose "server unreachable" errors raise :class:`StoreUnavailable`.

    It forwards every attribute, so the store keeps one implementation for both modes.
    """

    def __init__(self, store: ChromaStore, host: str, port: int) -> None:
        self._store = store
        self._message = unavailable_message(host, port)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        return self._guard(attribute) if callable(attribute) else attribute

    def _guard(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
            except Exception as error:
                if unreachable(error):
                    raise StoreUnavailable(self._message) from None
                raise
            return self._guard_iteration(result) if inspect.isgenerator(result) else result

        return call

    def _guard_iteration(self, items: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from items
        except Exception as error:
            if unreachable(error):
                raise StoreUnavailable(self._message) from None
            raise


def open_retrieval(
    settings: Settings, embedder: Embedder | None = None, reranker: Reranker | None = None
) -> RetrievalStack:
    """Open the store (taking the embedded lock first, before loading any model) and the models.

    A caller that already holds the models (the app lending them to an evaluation) passes them in.
    """
    store = ChromaStore.from_settings(settings)
    if settings.chroma_mode == "server":
        store = cast(ChromaStore, ReachableStore(store, settings.chroma_host, settings.chroma_port))
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
    # a collection with an adopted adaptation (python -m retrieval.adapt) reranks with it, others with the base
    rerankers = CollectionRerankers(settings.data_dir / "rerankers", reranker,
                                    load=lambda folder, max_length: load_reranker(folder, settings, max_length))
    retriever = HybridRetriever(store, embedder, bm25, HybridConfig.from_settings(settings), reranker,
                                rerankers.for_collection)
    return RetrievalStack(store, embedder, bm25, retriever)


def open_for_command_line(settings: Settings) -> RetrievalStack | None:
    """``open_retrieval`` for a CLI: a store owned by another process, or a server down, is reported, not raised."""
    try:
        return open_retrieval(settings)
    except (StoreLocked, StoreUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return None
