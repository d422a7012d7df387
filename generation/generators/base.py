"""What the local generators share: one lock per model, the stop handling and the streaming loop.

A local model is shared by every session of the process, so generation is serialised with a lock: one
answer at a time uses the model (two at once would only share the same two cores anyway). The lock is
re-entrant, so the thread that is streaming may still count tokens.

Two events end an answer early. The caller's ``stop`` is set by the stop button and only ever read
here; ``left`` is ours, set when the consumer has gone (a closed session) or finished, so decoding ends
at its next token. A set caller's event tells the pipeline the user stopped this answer (and it is then
not cached), so it is never set on the consumer's behalf.

A backend implements only the model-specific part: counting tokens, encoding a chat into its prompt,
and decoding that prompt into pieces while ``should_stop()`` is false (closing the decoding generator
must end the backend's own work: a thread, a completion).
"""

from __future__ import annotations

import collections.abc
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from askdocs.settings import Settings
from generation.generators import Generator, GeneratorUnavailable, Messages

log = logging.getLogger("askdocs.generation")  # under "askdocs", so it reaches the terminal


class LocalGenerator(ABC):
    """A :class:`~generation.generators.Generator` running a model in this process."""

    model_setting: ClassVar[str] = "generator_model"
    # What decoding raises when the model cannot answer (a failed decode, a prompt over the context):
    # reported as GeneratorUnavailable, so the answer is marked incomplete instead of the session failing.
    failures: ClassVar[tuple[type[Exception], ...]] = (RuntimeError, ValueError)

    def __init__(self, name: str, model_context: int, context_cap: int = 0) -> None:
        self.name = name
        self.context_window = min(model_context, context_cap) if context_cap else model_context
        self._lock = threading.RLock()

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Generator: ...

    @abstractmethod
    def _count_tokens(self, text: str) -> int: ...

    @abstractmethod
    def _encode_chat(self, messages: Messages) -> Any: ...  # noqa: ANN401 - the backend's own prompt

    @abstractmethod
    def _prompt_length(self, prompt: Any) -> int: ...  # noqa: ANN401

    @abstractmethod
    def _decode(  # noqa: ANN401 - prompt: the backend's own
        self, prompt: Any, max_tokens: int, temperature: float, should_stop: Callable[[], bool]
    ) -> collections.abc.Generator[str, None, None]: ...

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return self._count_tokens(text)

    def prompt_tokens(self, messages: Messages) -> int:
        with self._lock:
            return self._prompt_length(self._encode_chat(messages))

    def stream(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float = 0.0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        asked = stop or threading.Event()
        left = threading.Event()
        with self._lock:
            prompt = self._encode_chat(messages)
            decoding = self._decode(prompt, max_tokens, temperature, lambda: asked.is_set() or left.is_set())
            pieces, finished = 0, False
            try:
                for piece in decoding:
                    if asked.is_set():
                        break
                    if piece:
                        pieces += 1
                        yield piece
                finished = not asked.is_set()
            except self.failures as error:
                raise GeneratorUnavailable(f"local generation failed: {error}") from error
            finally:
                left.set()  # before closing: the backend's decoding ends at its next token
                decoding.close()
                if not finished:
                    log.info("local generation stopped early, after %d pieces", pieces)
