"""Scripted stand-ins for fast tests; every real part has its own real test elsewhere."""

from __future__ import annotations

import hashlib

import numpy as np

from retrieval.bm25 import tokenize


class HashingEmbedder:
    """Bag-of-stems vectors: the same words give the same vector, other words a distant one."""

    dimension = 256

    def embed(self, texts) -> np.ndarray:  # noqa: ANN001
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, 0] = 0.01
            for word in tokenize(text):
                out[row, 1 + int(hashlib.sha1(word.encode()).hexdigest(), 16) % (self.dimension - 1)] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def count_tokens(self, text: str) -> int:
        return len(text.split())
