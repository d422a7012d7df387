"""Scripted stand-ins for fast tests; every real part has its own real test elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator


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
