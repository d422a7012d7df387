"""Turning text into vectors.

One sentence-transformers model per process, shared by every caller. Hugging
Face fast tokenizers raise "Already borrowed" when two threads use one at the
same time, so every call into the model goes through a lock. Vectors are
L2-normalised so that Chroma's cosine distance and a dot product agree.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from askdocs.models import resolve_embedder
from askdocs.settings import Settings


class Embedder(Protocol):
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...
    def count_tokens(self, text: str) -> int: ...


def pick_device(preference: str) -> str:
    if preference != "auto":
        return preference
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEmbedder:
    """An :class:`Embedder` backed by a sentence-transformers model.

    Example:
        >>> emb = SentenceTransformerEmbedder("pkg:all-minilm-l6-v2")  # doctest: +SKIP
        >>> emb.embed(["hello"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(self, spec: str, device: str = "auto", batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer

        self.spec = spec
        self.batch_size = batch_size
        self._model = SentenceTransformer(resolve_embedder(spec), device=pick_device(device))
        self._lock = threading.Lock()
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ValueError(f"embedder {spec!r} does not report its embedding dimension")
        self.dimension = int(dimension)
        self.max_tokens = int(self._model.max_seq_length)

    @classmethod
    def from_settings(cls, settings: Settings) -> "SentenceTransformerEmbedder":
        return cls(settings.embedder, settings.device, settings.embed_batch_size)

    @property
    def tokenizer(self):  # noqa: ANN201 - a Hugging Face tokenizer; its type is not worth importing here
        return self._model.tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._model.tokenizer.encode(text, add_special_tokens=False))
