"""A scripted generator for fast tests: queued replies and failures, streamed as a backend streams them.

After simonw/llm's ``MockModel.enqueue``: a test queues what the next calls answer, each reply either text,
streamed word by word, or an error, raised once the text given as ``after`` has streamed (a server that
dies mid-answer). A call the queue does not cover gets the standing reply given to the constructor, so a
test that needs one answer throughout passes just that. Every call's messages and answer limit are kept.

It is also the proof that a generator backend is one class plus one registry line: registered in
``generation.generators.GENERATORS`` inside a test, ``Settings(generator_backend="scripted")`` builds it
through ``from_settings`` with no other edit.

Example:
    >>> generator = ScriptedGenerator("It returns None [1].")
    >>> generator.enqueue(GeneratorUnavailable("connection reset"), after="It returns")  # doctest: +ELLIPSIS
    <...ScriptedGenerator object at ...>
    >>> list(generator.stream([{"role": "user", "content": "What?"}], max_tokens=8))
    Traceback (most recent call last):
    ...
    generation.generators.GeneratorUnavailable: connection reset
    >>> "".join(generator.stream([{"role": "user", "content": "What?"}], max_tokens=8))
    'It returns None [1]. '
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from askdocs.settings import Settings
from generation.generators import GeneratorUnavailable, Messages

__all__ = ["GeneratorUnavailable", "Reply", "ScriptedGenerator"]


@dataclass(frozen=True)
class Reply:
    text: str  # streamed word by word, each word with its following space
    error: BaseException | None = None  # raised once the text has streamed


class ScriptedGenerator:
    """A :class:`~generation.generators.Generator` streaming scripted replies; remembers what it was asked."""

    model_setting: ClassVar[str] = "generator_model"

    def __init__(
        self,
        reply: str | BaseException = "",
        *,
        after: str = "",
        name: str = "scripted",
        context_window: int = 4096,
    ) -> None:
        self.name = name
        self.context_window = context_window
        self.standing = self._reply(reply, after)
        self.queue: deque[Reply] = deque()
        self.prompts: list[Messages] = []  # the messages of every call, in order
        self.limits: list[int] = []  # the max_tokens of every call

    @classmethod
    def from_settings(cls, settings: Settings) -> ScriptedGenerator:
        return cls(
            f"Scripted by {settings.generator_model}.",
            name=f"scripted:{settings.generator_model}",
            context_window=settings.context_window or 4096,
        )

    @staticmethod
    def _reply(reply: str | BaseException, after: str) -> Reply:
        return Reply(after, reply) if isinstance(reply, BaseException) else Reply(reply)

    @property
    def reply(self) -> str:
        """The standing reply's text."""
        return self.standing.text

    def enqueue(self, reply: str | BaseException, *, after: str = "") -> ScriptedGenerator:
        """Queue the next uncovered call's reply: text, or an error raised once ``after`` has streamed."""
        self.queue.append(self._reply(reply, after))
        return self

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, messages: Messages) -> int:
        return sum(self.count_tokens(m["content"]) for m in messages)

    def stream(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float = 0.0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        self.prompts.append(messages)
        self.limits.append(max_tokens)
        reply = self.queue.popleft() if self.queue else self.standing
        if reply.error is None or reply.text:
            for word in reply.text.split(" "):
                yield word + " "
        if reply.error is not None:
            raise reply.error
