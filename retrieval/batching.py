"""The mechanics every model-backed role shares: one lock per model, and batches handed back in order.

Design choices:
- One model per process, shared by every caller (the app's sessions, the ingestion thread). Hugging Face
  tokenizers raise "Already borrowed" when two threads use one at the same time, so every call into a
  model or its tokenizer holds the model's lock. The lock is taken once per batch, not per call, so a
  query's embedding can interleave with a long ingestion's batches.
- A backend turns the inputs into what it runs once (``_prepare``: ONNX tokenises everything in one
  call), may sort them (``_order``: length bucketing, so a batch pads to its neighbours' length rather
  than the longest input's) and runs one batch at a time; results go back in the caller's order.
- A backend whose library sorts and batches a whole call itself (sentence-transformers' ``encode`` and
  ``CrossEncoder.predict`` sort by length first) sets ``batches_itself`` and gets the call in one turn,
  so the library's sort still sees every input and its numbers stay what they were.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np

Item = TypeVar("Item")


def by_length(items: Sequence[Sequence[object]]) -> np.ndarray:
    """Positions of ``items`` shortest first; equal lengths keep their order."""
    return np.argsort([len(i) for i in items], kind="stable")


class Batched(Generic[Item]):
    batches_itself = False  # True: the library batches (by ``batch_size``) and sorts a whole call itself

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _order(self, items: Sequence[Item]) -> np.ndarray:
        """The order batches are cut in (the caller's, unless a backend buckets by length)."""
        return np.arange(len(items))

    def _in_batches(
        self, items: Sequence[Item], out: np.ndarray, run: Callable[[list[Item]], np.ndarray]
    ) -> np.ndarray:
        """``out[rows] = run(items at rows)`` batch by batch, each under the model's lock."""
        order = self._order(items)
        size = len(items) if self.batches_itself else self.batch_size
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            with self._lock:
                out[rows] = run([items[r] for r in rows])
        return out
