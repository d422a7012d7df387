"""Turning text into vectors: one ``Embedder`` protocol, a registry of backends, one factory.

Design choices:
- ``EMBEDDERS`` maps what runs a model to its factory: ``ASKDOCS_EMBEDDER_BACKEND`` ("torch", "onnx",
  "onnx-int8") for a sentence-transformers model, and the packaged table's ``runtime`` for a packaged
  model that is not one ("wordllama"). ``load_embedder`` picks the entry, so callers never name a class
  and the evaluation can loop over specs; a new backend is one module and one line here.
- ``sentence_transformers.SentenceTransformerEmbedder`` runs the packaged MiniLM and mpnet folders, any
  Hugging Face id (for users who are online) or a local folder.
- ``onnx.OnnxEmbedder`` runs a sentence-transformers folder on ONNX Runtime (float32 or int8); on CUDA
  torch runs it whatever the setting says.
- ``wordllama.WordLlamaEmbedder`` runs WordLlama's static token vectors in numpy.
- One model per process, shared by every caller; the lock, batching and normalisation are
  ``base.BaseEmbedder``'s.
- ``max_tokens`` is the longest text, counted by ``count_tokens``, that the model is meant to read:
  sentence-transformers drops the rest silently, WordLlama averages any length but was trained on 256.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from askdocs.models import embedder_runtime
from askdocs.registry import Registry
from askdocs.settings import Settings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    spec: str  # what it was loaded from, e.g. "pkg:all-minilm-l6-v2"
    # what the vectors came from: the spec, plus the runtime when it changes them ("...#onnx-int8");
    # an index built with one identity refuses another (retrieval.stores.base)
    identity: str
    dimension: int
    max_tokens: int  # longest text, in count_tokens units, the model is meant to read

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...
    def count_tokens(self, text: str) -> int: ...


class EmbedderFactory(Protocol):
    """What a registry entry is: a class or function building an embedder from these four."""

    def __call__(self, spec: str, device: str, batch_size: int, cache_dir: Path | None) -> Embedder: ...


EMBEDDERS: Registry[EmbedderFactory] = Registry(
    "embedder backend",
    {
        "torch": "retrieval.embedders.sentence_transformers:SentenceTransformerEmbedder",
        "onnx": "retrieval.embedders.onnx:fp32",
        "onnx-int8": "retrieval.embedders.onnx:int8",
        "wordllama": "retrieval.embedders.wordllama:WordLlamaEmbedder",
    },
)


def pick_device(preference: str) -> str:
    if preference != "auto":
        return preference
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_embedder(
    spec: str,
    device: str = "auto",
    batch_size: int = 32,
    cache_dir: Path | None = None,
    backend: str = "torch",
) -> Embedder:
    """The embedder for ``spec``: a ``pkg:`` name (see ``askdocs.models.PACKAGED``), a HF id or a folder.

    ``backend`` (an ``EMBEDDERS`` name: "torch", "onnx", "onnx-int8") chooses what runs a
    sentence-transformers model; the ONNX ones are CPU-only, so on CUDA torch runs it whatever was asked.
    A packaged model of another runtime (WordLlama) runs on that runtime.

    Example:
        >>> emb = load_embedder("pkg:wordllama-l2-supercat")  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 256)
    """
    runtime = embedder_runtime(spec)
    return EMBEDDERS.get(backend if runtime == "sentence-transformers" else runtime)(
        spec, device, batch_size, cache_dir
    )


def embedder_from_settings(settings: Settings) -> Embedder:
    backend = EMBEDDERS.check(settings.embedder_backend, "ASKDOCS_EMBEDDER_BACKEND")
    embedder = load_embedder(
        settings.embedder, settings.device, settings.embed_batch_size, settings.model_cache_dir, backend
    )
    if settings.chunk_tokens > embedder.max_tokens:
        log.warning(
            "ASKDOCS_CHUNK_TOKENS=%d is more than %s is meant to read (%d tokens)",
            settings.chunk_tokens,
            settings.embedder,
            embedder.max_tokens,
        )
    return embedder
