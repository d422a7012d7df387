"""The composition root: every part of askdocs built from one :class:`Settings`, each part once.

The web app, the REST API, the command lines, the evaluation suite and the benchmarks ask a
:class:`Runtime` for their parts instead of wiring them by hand, so a new backend or a changed
constructor is one edit here, and every entry point answers with the same cache, the same rerankers
and the same checks.

Design choices:
- The store opens first. The embedded store takes its folder's lock before any model loads, so a
  second writer is refused in a second instead of after a minute of loading (``StoreLocked``).
- Every backend setting is checked against its role's registry before anything is built
  (:func:`check_backends`): a typo fails at start-up, naming the setting and the choices.
- Generators are built on first use, once, under a lock: the UI shows its page and the evidence
  before a model has loaded, and two sessions asking at once load one model, not two.
- A caller that already holds models lends them (an evaluation inside the app reuses the app's
  embedder and reranker; tests lend small real models or scripted ones).

This is the one module of the shared package allowed to import the product packages above it
(``tests/test_layers.py``); nothing imports it from below.

Example:
    >>> with Runtime(load_settings()) as runtime:  # doctest: +SKIP
    ...     runtime.ingestor.ingest_paths([Path("sample_docs/documents")], "default")
    ...     answer = runtime.pipeline().ask("What does list.sort() return?", "default")
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from askdocs.settings import Settings
from generation.cache import SemanticCache, cache_from_settings
from generation.generators import (
    Generator,
    api_generator_from_settings,
    check_backend,
    fast_generator_from_settings,
    generator_from_settings,
    local_generator_from_settings,
)
from generation.pipeline import AnswerPipeline
from ingest.jobs import IngestionQueue
from ingest.pipeline import Ingestor
from retrieval.bm25 import BM25Directory
from retrieval.consistency import ConsistencyReport, repair_at_startup
from retrieval.embedders import EMBEDDERS, Embedder
from retrieval.factory import open_retrieval
from retrieval.hybrid import HybridRetriever
from retrieval.rerankers import RERANKERS, Reranker
from retrieval.stores import STORES, StoreLocked, StoreUnavailable, VectorStore

T = TypeVar("T")
_UNSET: Any = object()


def check_backends(settings: Settings) -> None:
    """Raise ``UnknownBackend`` for a backend setting its role's registry does not hold."""
    STORES.check(settings.store_backend, "ASKDOCS_STORE_BACKEND")
    EMBEDDERS.check(settings.embedder_backend, "ASKDOCS_EMBEDDER_BACKEND")
    RERANKERS.check(settings.reranker_backend, "ASKDOCS_RERANKER_BACKEND")
    check_backend(settings.generator_backend, "ASKDOCS_GENERATOR_BACKEND")
    check_backend(settings.fast_generator_backend, "ASKDOCS_FAST_GENERATOR_BACKEND")


class Runtime:
    """The object graph of one askdocs process, built from ``settings``."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        generator: Generator | None = None,
        fast_generator: Generator | None = _UNSET,
    ) -> None:
        check_backends(settings)
        self.settings = settings
        self._stack = open_retrieval(settings, embedder, reranker)
        # One lock per part, so loading a model (a minute, the first time) holds up only those who need
        # that model; re-entrant, since one part may be built from another (the queue from the ingestor).
        self._locks: dict[str, threading.RLock] = {}
        self._locks_lock = threading.Lock()
        self._built: dict[str, Any] = {}
        if generator is not None:
            self._built["generator"] = generator
        if fast_generator is not _UNSET:
            self._built["fast_generator"] = fast_generator

    def _once(self, name: str, build: Callable[[], T]) -> T:
        """``build()`` the first time ``name`` is asked for, under its lock; the same object afterwards."""
        with self._locks_lock:
            lock = self._locks.setdefault(name, threading.RLock())
        with lock:
            if name not in self._built:
                self._built[name] = build()
            return self._built[name]

    # Retrieval: opened with the runtime, the store first.
    @property
    def store(self) -> VectorStore:
        return self._stack.store

    @property
    def embedder(self) -> Embedder:
        return self._stack.embedder

    @property
    def bm25(self) -> BM25Directory:
        return self._stack.bm25

    @property
    def retriever(self) -> HybridRetriever:
        return self._stack.retriever

    # Ingestion
    @property
    def ingestor(self) -> Ingestor:
        return self._once("ingestor", lambda: Ingestor(self.store, self.embedder, self.bm25, self.settings))

    @property
    def jobs(self) -> IngestionQueue:
        """The one background ingestion queue of this process (uploads in the UI and the REST API)."""
        return self._once("jobs", lambda: IngestionQueue(self.ingestor))

    def repair(self) -> ConsistencyReport:
        """Check that catalogue, chunks and BM25 agree, and repair what a crash left (embedded mode)."""
        return repair_at_startup(self.store, self.bm25, self.settings.chroma_mode)

    # Generation: built on first use.
    @property
    def cache(self) -> SemanticCache | None:
        """The semantic cache of this process; None when ``ASKDOCS_CACHE_SIMILARITY`` is 0."""
        return self._once("cache", lambda: cache_from_settings(self, self.settings))

    @property
    def generator(self) -> Generator:
        """The configured main generator (local or API, by ``ASKDOCS_GENERATOR_BACKEND``)."""
        return self._once("generator", lambda: generator_from_settings(self.settings))

    @property
    def local_generator(self) -> Generator:
        """The local model, also what the UI falls back to when the API is down."""
        return self._once("local_generator", lambda: local_generator_from_settings(self.settings))

    @property
    def api_generator(self) -> Generator:
        """The OpenAI-compatible API generator, whatever ``ASKDOCS_GENERATOR_BACKEND`` says (the UI offers both)."""
        return self._once("api_generator", lambda: api_generator_from_settings(self.settings))

    @property
    def fast_generator(self) -> Generator | None:
        """Routing's fast tier (``generation.routing``); None when no fast model is set."""
        return self._once("fast_generator", lambda: fast_generator_from_settings(self.settings))

    def pipeline(self, generator: Generator | None = None, **options: Any) -> AnswerPipeline:
        """The answer pipeline over this runtime's retriever and cache, with ``generator`` as the main tier.

        ``options`` go to :class:`AnswerPipeline` (an evaluation's undefended prompt, say); ``cache`` and
        ``fast_generator`` default to this runtime's, and an evaluation passes None for both so that its
        numbers measure the pipeline, not the cache or the router.
        """
        if "cache" not in options:
            options["cache"] = self.cache
        if "fast_generator" not in options:
            options["fast_generator"] = self.fast_generator
        return AnswerPipeline(self.retriever, generator or self.generator, self.settings, **options)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_for_command_line(settings: Settings) -> Runtime | None:
    """A :class:`Runtime` for a CLI: a store owned by another process, or a server down, is reported."""
    try:
        return Runtime(settings)
    except (StoreLocked, StoreUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return None
