"""Cross-encoder reranking of the fused candidates.

Any sentence-transformers CrossEncoder id or local path works. No package
ships cross-encoder weights offline, so the stage is off unless configured
(``ASKDOCS_RERANKER``); ``retrieval.training`` trains our own, not shipped
yet because it has not beaten retrieval alone (docs/evaluation.md).
``ASKDOCS_RERANKER_BACKEND=onnx|onnx-int8`` runs a local folder on ONNX
Runtime instead of torch (``retrieval.onnx_reranker``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from askdocs.settings import Settings
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


def reranker_from_settings(settings: Settings) -> Reranker | None:
    """The configured base reranker (``ASKDOCS_RERANKER`` on ``ASKDOCS_RERANKER_BACKEND``), or None when unset."""
    if not settings.reranker:
        return None
    if settings.reranker_backend == "torch":
        return CrossEncoderReranker(settings.reranker, settings.device, max_length=settings.reranker_max_length)
    folder = Path(settings.reranker)
    if not (folder / "config.json").is_file():
        # the ONNX export reads a folder; a hub id would need a download this backend does not do
        raise ValueError(
            f"ASKDOCS_RERANKER_BACKEND={settings.reranker_backend} needs ASKDOCS_RERANKER to be a local model "
            f"folder, and {settings.reranker!r} is not one; use the torch backend for a Hugging Face id"
        )
    from retrieval.onnx_reranker import OnnxCrossEncoderReranker

    variant = "int8" if settings.reranker_backend == "onnx-int8" else "fp32"
    return OnnxCrossEncoderReranker(folder, variant, max_length=settings.reranker_max_length,
                                    cache_dir=settings.model_cache_dir)
