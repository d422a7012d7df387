"""Scripted stand-ins for fast tests; every real part has its own real test elsewhere."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import numpy as np

from retrieval.bm25 import tokenize


class ScriptedGenerator:
    """Streams a fixed reply word by word, as a backend does; remembers what it was asked."""

    name = "scripted"

    def __init__(self, reply: str, context_window: int = 4096) -> None:
        self.reply = reply
        self.context_window = context_window
        self.prompts: list = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, messages) -> int:  # noqa: ANN001 - chat messages
        return sum(self.count_tokens(m["content"]) for m in messages)

    def stream(  # noqa: ANN001 - chat messages
        self, messages, max_tokens: int, temperature: float = 0.0, stop: threading.Event | None = None
    ) -> Iterator[str]:
        self.prompts.append(messages)
        for word in self.reply.split(" "):
            yield word + " "


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
