"""A test embedder backend: deterministic hashed-word vectors, registered in ``EMBEDDERS`` only by a test.

It is what a new backend is: this one file plus one registry line (``EMBEDDERS.add("test-hashing", ...)``,
done and undone by ``tests/retrieval/test_embedder_backends.py``). The base class gives it the lock, the
batches, the empty-input shortcut and normalisation; it writes how one batch becomes vectors.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from retrieval.embedders.base import BaseEmbedder

NAME = "test-hashing"
_WORD = re.compile(r"\w+")


class HashedWordsEmbedder(BaseEmbedder[str]):
    """Each word adds +-1 at a place its blake2b digest picks; one constant place keeps no text at zero."""

    dimension = 64
    max_tokens = 512

    def __init__(
        self, spec: str, device: str = "cpu", batch_size: int = 32, cache_dir: Path | None = None
    ) -> None:
        super().__init__(spec, batch_size, identity=f"{spec}#{NAME}")
        self.batches: list[int] = []  # the size of every batch run, for the contract's batching check

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        self.batches.append(len(batch))
        out = np.zeros((len(batch), self.dimension), dtype=np.float32)
        out[:, 0] = 0.5
        for row, text in enumerate(batch):
            for word in _WORD.findall(text.casefold()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, 1 + digest[0] % (self.dimension - 1)] += 1.0 if digest[1] & 1 else -1.0
        return out

    def _count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))
