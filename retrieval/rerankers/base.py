"""What every reranker shares, so that a backend writes only ``_score_batch``.

Design choices:
- The lock, the batches and their order are :class:`retrieval.batching.Batched`'s: a model is shared
  across sessions and fast tokenizers are not re-entrant. No passages give no scores, without touching
  the model.
- A backend scores (query, passage) pairs by default; one that tokenises every pair in one call
  (ONNX) overrides ``_prepare``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.batching import Batched, Item


class BaseReranker(Batched[Item]):
    """A :class:`~retrieval.rerankers.Reranker` whose subclass scores one batch of prepared pairs.

    Example:
        >>> class Shortest(BaseReranker[tuple[str, str]]):
        ...     def _score_batch(self, pairs): return np.array([-len(p) for _, p in pairs])
        >>> Shortest("shortest", batch_size=1).score("q", ["a long one", "short"])
        [-10.0, -5.0]
    """

    def __init__(self, spec: str, batch_size: int = 32) -> None:
        super().__init__(batch_size)
        self.spec = spec

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        with self._lock:
            items = self._prepare(query, list(passages))
        out = self._in_batches(items, np.zeros(len(passages), dtype=np.float32), self._score_batch)
        return [float(s) for s in out]

    def _prepare(self, query: str, passages: list[str]) -> Sequence[Item]:
        return [(query, p) for p in passages]  # type: ignore[misc]

    def _score_batch(self, batch: list[Item]) -> np.ndarray:
        """One score per pair; called under the model's lock."""
        raise NotImplementedError
