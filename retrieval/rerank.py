"""Cross-encoder reranking of the fused candidates.

Any sentence-transformers CrossEncoder id or local path works. No package
ships cross-encoder weights offline, so the stage is off unless configured
(``ASKDOCS_RERANKER``); a later issue trains our own default.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from retrieval.embedder import pick_device


class Reranker(Protocol):
    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...


class CrossEncoderReranker:
    """A :class:`Reranker` on a sentence-transformers ``CrossEncoder``.

    Example:
        >>> rr = CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
        >>> rr.score("capital of France", ["Paris is the capital.", "Bananas are yellow."])  # doctest: +SKIP
        [8.6, -11.2]
    """

    def __init__(self, spec: str, device: str = "auto", max_length: int = 256, batch_size: int = 32) -> None:
        from sentence_transformers import CrossEncoder

        self.spec = spec
        self.batch_size = batch_size
        self._model = CrossEncoder(spec, device=pick_device(device), max_length=max_length)
        self._lock = threading.Lock()  # shared across sessions; fast tokenizers are not re-entrant

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        with self._lock:
            scores = self._model.predict(
                [(query, p) for p in passages], batch_size=self.batch_size, show_progress_bar=False
            )
        return [float(s) for s in scores]
