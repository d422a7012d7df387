"""The REST API with a scripted generator, for the HTTP tests: ``uvicorn tests.app.api_server:scripted_app --factory``.

Everything else is real and built from ``ASKDOCS_*`` settings exactly as ``python -m app.api`` does
(store, embedder, BM25, keys file); only the generator is swapped, so the tests run in seconds.
A question containing ``BREAK_OFF`` makes the generator fail after a few words, as a model server
that dies mid-answer does. With ``ASKDOCS_FAST_GENERATOR_MODEL`` set, a second scripted generator,
``scripted-fast``, is routing's fast tier.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from fastapi import FastAPI

from app.api import ApiParts, create_app, parts_from_settings
from askdocs.settings import load_settings
from generation.generators import GeneratorUnavailable
from tests.support.generators import ScriptedGenerator

REPLY_ENV = "ASKDOCS_TEST_SCRIPTED_REPLY"
BREAK = "BREAK_OFF"


class BreakingGenerator(ScriptedGenerator):
    """The scripted reply, except that a question saying BREAK_OFF is cut off after three words."""

    def stream(  # noqa: ANN001 - chat messages
        self, messages, max_tokens: int, temperature: float = 0.0, stop: threading.Event | None = None
    ) -> Iterator[str]:
        if BREAK in messages[-1]["content"]:
            self.enqueue(GeneratorUnavailable("the API stream broke off: connection reset"),
                         after=" ".join(self.reply.split(" ")[:3]))
        return super().stream(messages, max_tokens, temperature, stop)


def scripted_app() -> FastAPI:
    parts = parts_from_settings(load_settings())
    reply = os.environ.get(REPLY_ENV, "It returns None [1].")
    generator, fast = BreakingGenerator(reply), BreakingGenerator(reply)
    fast.name = "scripted-fast"  # routing's fast tier, when ASKDOCS_FAST_GENERATOR_MODEL is set
    routed = {"fast_generator": lambda: fast} if parts.fast_generator else {}
    scripted = ApiParts(**{**parts.__dict__, "generator": lambda: generator, **routed})
    return create_app(scripted)
