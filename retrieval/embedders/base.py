"""What every embedder shares, so that a backend writes only ``_embed_batch`` and ``_count_tokens``.

Design choices:
- The lock, the batches and their order are :class:`retrieval.batching.Batched`'s. Empty input gives a
  ``(0, dimension)`` array without touching the model.
- Vectors are L2-normalised float32 here, for every backend, so that Chroma's cosine distance and a dot
  product agree. A vector of zeros (WordLlama's for a text with no tokens) stays zeros.
- ``identity`` is the spec unless the backend's vectors differ from the spec's own (int8 ONNX), so an
  index built with one refuses another (``retrieval.stores.base``).
- ``count_tokens`` holds ``_count_lock``, the model's lock unless the backend keeps a tokenizer copy for
  counting: the ingestion pipeline chunks the next file (which counts tokens all the time) while
  ``embed`` holds the model's lock for this one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from retrieval.batching import Batched, Item


class BaseEmbedder(Batched[Item]):
    """An :class:`~retrieval.embedders.Embedder` whose subclass embeds one batch of prepared texts.

    Example:
        >>> class Lengths(BaseEmbedder[str]):
        ...     dimension, max_tokens = 2, 100
        ...     def _embed_batch(self, texts): return np.array([[len(t), 1.0] for t in texts])
        ...     def _count_tokens(self, text): return len(text.split())
        >>> [[round(float(x), 3) for x in v] for v in Lengths("lengths", batch_size=1).embed(["", "abc"])]
        [[0.0, 1.0], [0.949, 0.316]]
    """

    dimension: int
    max_tokens: int  # longest text, in count_tokens units, the model is meant to read

    def __init__(self, spec: str, batch_size: int = 32, identity: str | None = None) -> None:
        super().__init__(batch_size)
        self.spec = spec
        self.identity = identity or spec
        self._count_lock = self._lock

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            items = self._prepare(list(texts))
        self._in_batches(items, out, self._embed_batch)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))
        return out

    def count_tokens(self, text: str) -> int:
        with self._count_lock:
            return self._count_tokens(text)

    def _prepare(self, texts: list[str]) -> Sequence[Item]:
        """What the batches are cut from (the texts themselves unless a backend tokenises them once)."""
        return texts  # type: ignore[return-value]

    def _embed_batch(self, batch: list[Item]) -> np.ndarray:
        """One vector per item, not yet normalised; called under the model's lock."""
        raise NotImplementedError

    def _count_tokens(self, text: str) -> int:
        raise NotImplementedError
