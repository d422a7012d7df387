"""The REST API with a scripted generator, for the HTTP tests:
``uvicorn tests.support.api_server:scripted_app --factory``.

Everything else is real and built from ``ASKDOCS_*`` settings exactly as ``python -m app.api`` does
(store, embedder, BM25, keys file); only the generator is swapped, so the tests run in seconds.
A question containing ``BREAK_OFF`` makes the generator fail after a few words, as a model server
that dies mid-answer does. With ``ASKDOCS_FAST_GENERATOR_MODEL`` set, a second scripted generator,
``scripted-fast``, is routing's fast tier.

The tests' side of such a server lives here too: a private copy of the sample index for it to serve
(``copy_index``, over ``tests/app/conftest.py``'s ``sample_index``), and its server-sent events parsed
(``events``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
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
            self.enqueue(
                GeneratorUnavailable("the API stream broke off: connection reset"),
                after=" ".join(self.reply.split(" ")[:3]),
            )
        return super().stream(messages, max_tokens, temperature, stop)


def scripted_app() -> FastAPI:
    parts = parts_from_settings(load_settings())
    reply = os.environ.get(REPLY_ENV, "It returns None [1].")
    generator, fast = BreakingGenerator(reply), BreakingGenerator(reply)
    fast.name = "scripted-fast"  # routing's fast tier, when ASKDOCS_FAST_GENERATOR_MODEL is set
    routed = {"fast_generator": lambda: fast} if parts.fast_generator else {}
    scripted = ApiParts(**{**parts.__dict__, "generator": lambda: generator, **routed})
    return create_app(scripted)


def copy_index(sample_index: Path, folder: Path) -> Path:
    """A private copy of the sample index under ``folder``; each server writes only to its own."""
    return Path(shutil.copytree(sample_index, folder / "data"))


def events(response: httpx.Response) -> list[tuple[str, dict]]:
    """The server-sent events of a response, as (event, data) pairs."""
    found = []
    for block in response.text.split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            found.append((fields["event"], json.loads(fields["data"])))
    return found
