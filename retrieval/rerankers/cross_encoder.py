"""The torch backend: any sentence-transformers ``CrossEncoder`` id or local folder.

``CrossEncoder.predict`` sorts a whole call by length before it batches, so this backend takes the call
in one turn of the lock (``batches_itself``) and passes ``batch_size`` on.
"""

from __future__ import annotations

import numpy as np

from askdocs.settings import Settings
from retrieval.embedders import pick_device
from retrieval.rerankers.base import BaseReranker


class CrossEncoderReranker(BaseReranker[tuple[str, str]]):
    """A :class:`~retrieval.rerankers.Reranker` on a sentence-transformers ``CrossEncoder``.

    Example:
        >>> rr = CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
        >>> rr.score("capital of France", ["Paris is the capital.", "Bananas are yellow."])  # doctest: +SKIP
        [8.6, -11.2]
    """

    batches_itself = True

    def __init__(self, spec: str, device: str = "auto", max_length: int = 256, batch_size: int = 32) -> None:
        from sentence_transformers import CrossEncoder

        super().__init__(spec, batch_size)
        self._model = CrossEncoder(spec, device=pick_device(device), max_length=max_length)

    def _score_batch(self, batch: list[tuple[str, str]]) -> np.ndarray:
        return self._model.predict(batch, batch_size=self.batch_size, show_progress_bar=False)


def from_settings(spec: str, settings: Settings, max_length: int) -> CrossEncoderReranker:
    """``RERANKERS["torch"]``: a Hugging Face id or folder on the configured device."""
    return CrossEncoderReranker(spec, settings.device, max_length=max_length)
