"""What the API serves with: the models, the store and the keys, built once per process from settings.

``ApiParts`` is the API's one input, so tests (and a process that already holds the parts) choose the
generator; ``parts_from_settings`` is what ``python -m app.api`` builds. The store opens and the
embedder loads at start; the local generator loads on the first question (``once``), behind a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from app.api.keys import KeyRing
from askdocs.settings import Settings
from generation.backends import Generator
from ingest.jobs import IngestionQueue
from ingest.pipeline import Ingestor
from retrieval.factory import RetrievalStack


@dataclass(frozen=True)
class ApiParts:
    """What the API serves with, built once per process."""

    settings: Settings
    stack: RetrievalStack
    ingestor: Ingestor
    jobs: IngestionQueue
    keys: KeyRing
    generator: Callable[[], Generator]  # called per question; a loader should cache (see ``once``)
    fast_generator: Callable[[], Generator] | None = None  # routing's fast tier (generation/routing.py)


def once(factory: Callable[[], Generator]) -> Callable[[], Generator]:
    """``factory`` run on first use only, under a lock, so two first questions load one model."""
    lock, made = threading.Lock(), []

    def get() -> Generator:
        with lock:
            if not made:
                made.append(factory())
            return made[0]

    get.loaded = lambda: bool(made)  # type: ignore[attr-defined]
    return get


def parts_from_settings(settings: Settings) -> ApiParts:
    """Open the store and load the embedder now; the generator loads on the first question."""
    from askdocs.quiet import quiet_libraries
    from generation.backends import fast_generator_from_settings, generator_from_settings
    from retrieval.factory import open_retrieval

    quiet_libraries()
    keys = KeyRing.from_file(settings.api_keys_path)  # a malformed file stops us before any model loads
    stack = open_retrieval(settings)
    ingestor = Ingestor(stack.store, stack.embedder, stack.bm25, settings)
    fast = once(lambda: fast_generator_from_settings(settings)) if settings.fast_generator_model else None
    return ApiParts(settings, stack, ingestor, IngestionQueue(ingestor), keys,
                    once(lambda: generator_from_settings(settings)), fast)
