"""A test reranker backend: the share of the query's words a passage holds, registered only by a test.

It is what a new backend is: this one file plus one registry line (``RERANKERS.add("test-overlap", ...)``,
done and undone by ``tests/retrieval/test_reranker_backends.py``). The base class gives it the lock, the
batches and the empty-input shortcut; it writes how one batch of (query, passage) pairs is scored.
"""

from __future__ import annotations

import re

import numpy as np

from askdocs.settings import Settings
from retrieval.rerankers.base import BaseReranker

NAME = "test-overlap"
_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


class WordOverlapReranker(BaseReranker[tuple[str, str]]):
    def __init__(self, spec: str, max_length: int = 256, batch_size: int = 32) -> None:
        super().__init__(spec, batch_size)
        self.max_length = max_length

    def _score_batch(self, batch: list[tuple[str, str]]) -> np.ndarray:
        return np.array([len(_words(q) & _words(p)) / max(len(_words(q)), 1) for q, p in batch])


def from_settings(spec: str, settings: Settings, max_length: int) -> WordOverlapReranker:
    """The registry entry: ``RERANKERS`` calls this with the spec, the settings and the length to read."""
    return WordOverlapReranker(spec, max_length=max_length)
