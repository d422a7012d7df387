"""Cross-encoder reranking of the fused candidates.

Any sentence-transformers CrossEncoder id or local path works. No package
ships cross-encoder weights offline, so the stage is off unless configured
(``ASKDOCS_RERANKER``); ``retrieval.training`` trains our own, not shipped
yet: fused with retrieval it beats retrieval alone on the Python FAQ but
still loses on the sample documents (docs/evaluation.md).
``ASKDOCS_RERANKER_BACKEND=onnx|onnx-int8`` runs a local folder on ONNX
Runtime instead of torch (``retrieval.onnx_reranker``).

``ASKDOCS_RERANK_FUSION=rrf`` fuses the reranker's order with the retriever's
(reciprocal ranks) instead of replacing it: a small reranker trained here is
right where retrieval is wrong often enough to help, and wrong where retrieval
is right too often to be trusted alone (docs/evaluation.md, "Fusing the
reranker with retrieval").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from askdocs.settings import Settings
from retrieval.embedder import pick_device


RerankFusion = Literal["off", "rrf"]


class Reranker(Protocol):
    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...


def rerank_order(
    scores: Sequence[float], fusion: RerankFusion = "off", rrf_k: int = 60
) -> list[tuple[int, float]]:
    """The new order of candidates that arrived ranked by retrieval and were scored by a reranker.

    Returns (position in the retrieval order, score ranked by) pairs, best first. ``off``: the reranker's
    score alone. ``rrf``: 1/(k + retrieval rank) + 1/(k + reranker rank), so a passage both agree on
    leads and neither can bury what the other ranks first. Ties keep the retrieval order.

    Example:
        >>> rerank_order([0.1, 0.9, 0.5])
        [(1, 0.9), (2, 0.5), (0, 0.1)]
        >>> [i for i, _ in rerank_order([0.1, 0.9, 0.5], "rrf", rrf_k=1)]
        [1, 0, 2]
    """
    by_reranker = sorted(range(len(scores)), key=lambda i: -scores[i])
    if fusion == "off":
        return [(i, float(scores[i])) for i in by_reranker]
    reranker_rank = {i: rank for rank, i in enumerate(by_reranker, 1)}
    fused = [1 / (rrf_k + i + 1) + 1 / (rrf_k + reranker_rank[i]) for i in range(len(scores))]
    return [(i, fused[i]) for i in sorted(range(len(scores)), key=lambda i: -fused[i])]


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
    return load_reranker(settings.reranker, settings) if settings.reranker else None


def load_reranker(spec: str, settings: Settings, max_length: int | None = None) -> Reranker:
    """``spec`` on the configured backend: a Hugging Face id or folder on torch, a folder only on ONNX.

    The base reranker and an adopted adaptation (``retrieval.adapted``) both load here, so an adapted
    model runs on int8 too when the base does. ``max_length``: tokens of query + passage (default: the
    setting); an adapted model keeps the length it was trained at.
    """
    length = max_length or settings.reranker_max_length
    if settings.reranker_backend == "torch":
        return CrossEncoderReranker(spec, settings.device, max_length=length)
    folder = Path(spec)
    if not (folder / "config.json").is_file():
        # the ONNX export reads a folder; a hub id would need a download this backend does not do
        raise ValueError(
            f"ASKDOCS_RERANKER_BACKEND={settings.reranker_backend} needs ASKDOCS_RERANKER to be a local model "
            f"folder, and {spec!r} is not one; use the torch backend for a Hugging Face id"
        )
    from retrieval.onnx_reranker import OnnxCrossEncoderReranker

    variant = "int8" if settings.reranker_backend == "onnx-int8" else "fp32"
    return OnnxCrossEncoderReranker(folder, variant, max_length=length, cache_dir=settings.model_cache_dir)
