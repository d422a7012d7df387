"""Cross-encoder reranking of the fused candidates: one ``Reranker`` protocol, a registry of backends.

``RERANKERS`` maps ``ASKDOCS_RERANKER_BACKEND`` to its factory; a new backend is one module and one
line there. Any sentence-transformers CrossEncoder id or local path works on torch. No package
ships cross-encoder weights offline, so the stage is off unless configured
(``ASKDOCS_RERANKER``); ``tuning`` trains our own, not shipped
yet: fused with retrieval it beats retrieval alone on the Python FAQ but
still loses on the sample documents (docs/evaluation.md).
``ASKDOCS_RERANKER_BACKEND=onnx|onnx-int8`` runs a local folder on ONNX
Runtime instead of torch (``retrieval.rerankers.onnx``). Which reranker a collection gets, its adopted
adaptation or this base one, is ``retrieval.rerankers.per_collection``'s.

``ASKDOCS_RERANK_FUSION=rrf`` fuses the reranker's order with the retriever's
(reciprocal ranks) instead of replacing it: a small reranker trained here is
right where retrieval is wrong often enough to help, and wrong where retrieval
is right too often to be trusted alone (docs/evaluation.md, "Fusing the
reranker with retrieval").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from askdocs.registry import Registry
from askdocs.settings import Settings

RerankFusion = Literal["off", "rrf"]


class Reranker(Protocol):
    def score(self, query: str, passages: Sequence[str]) -> list[float]: ...


class RerankerFactory(Protocol):
    """What a registry entry is: a function building a reranker of ``max_length`` tokens from settings."""

    def __call__(self, spec: str, settings: Settings, max_length: int) -> Reranker: ...


RERANKERS: Registry[RerankerFactory] = Registry(
    "reranker backend",
    {
        "torch": "retrieval.rerankers.cross_encoder:from_settings",
        "onnx": "retrieval.rerankers.onnx:fp32",
        "onnx-int8": "retrieval.rerankers.onnx:int8",
    },
)


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


def reranker_from_settings(settings: Settings) -> Reranker | None:
    """The configured base reranker (``ASKDOCS_RERANKER`` on ``ASKDOCS_RERANKER_BACKEND``), or None when unset."""
    RERANKERS.check(settings.reranker_backend, "ASKDOCS_RERANKER_BACKEND")
    return load_reranker(settings.reranker, settings) if settings.reranker else None


def load_reranker(spec: str, settings: Settings, max_length: int | None = None) -> Reranker:
    """``spec`` on the configured backend: a Hugging Face id or folder on torch, a folder only on ONNX.

    The base reranker and an adopted adaptation (``retrieval.rerankers.per_collection``) both load here,
    so an adapted model runs on int8 too when the base does. ``max_length``: tokens of query + passage
    (default: the setting); an adapted model keeps the length it was trained at.
    """
    factory = RERANKERS.get(RERANKERS.check(settings.reranker_backend, "ASKDOCS_RERANKER_BACKEND"))
    return factory(spec, settings, max_length or settings.reranker_max_length)
