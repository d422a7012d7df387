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
from askdocs.runtime import Runtime
from askdocs.settings import Settings
from generation.generators import Generator
from ingest.jobs import IngestionQueue
from ingest.pipeline import Ingestor


@dataclass(frozen=True)
class ApiParts:
    """What the API serves with, built once per process: the runtime's parts, the keys, the generators."""

    runtime: Runtime  # store, models, retriever, ingestor, jobs, cache (askdocs.runtime)
    keys: KeyRing
    generator: Callable[[], Generator]  # called per question; a loader should cache (see ``once``)
    fast_generator: Callable[[], Generator] | None = None  # routing's fast tier (generation/routing.py)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def ingestor(self) -> Ingestor:
        return self.runtime.ingestor

    @property
    def jobs(self) -> IngestionQueue:
        return self.runtime.jobs


def once(factory: Callable[[], Generator]) -> Callable[[], Generator]:
    """``factory`` run on first use only, under a lock, so two first questions load one model."""
    made: list[Generator]
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

    quiet_libraries()
    keys = KeyRing.from_file(settings.api_keys_path)  # a malformed file stops us before any model loads
    runtime = Runtime(settings)
    runtime.jobs  # noqa: B018 - the upload queue's thread starts with the server, as before
    fast = once(lambda: runtime.fast_generator) if settings.fast_generator_model else None  # type: ignore[arg-type, return-value]
    return ApiParts(runtime, keys, once(lambda: runtime.generator), fast)
