"""Streaming one answer as server-sent events: the pipeline on its own thread, events as they come.

Design choices:
- One thread per answer runs the whole pipeline: the local backend holds its model lock across
  yields, and a lock taken on one thread cannot be released on another, which is what iterating a
  blocking generator on the thread pool piece by piece would do. The thread hands events to the
  event loop through an ``asyncio.Queue``; a client that goes away sets the pipeline's stop event.
- Each event's data is JSON (a piece may hold newlines, which would end an SSE event early), and the
  OpenAPI schema describes every event with its data's own schema (OpenAPI 3.1 ``contentSchema``),
  so schemathesis checks the stream too.
- Once the stream has begun, a failure is an ``error`` event carrying the text already sent. A
  pipeline that keeps a cut-off answer (``Answer.incomplete``) also sends it, checked, as the final
  ``answer`` after the ``error``; one that raises ends the stream with the ``error``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from app.api.ops import ApiMetrics
from app.api.schemas import AnswerEvent, ErrorEvent, TokenEvent
from app.monitoring import Recorder
from askdocs.types import Answer
from generation.generators import GeneratorUnavailable

log = logging.getLogger("askdocs.api")


def _sse(event: str, body: Any) -> bytes:
    # JSON keeps newlines inside a piece from ending the event early.
    return f"event: {event}\ndata: {body.model_dump_json()}\n\n".encode()


_END = object()


class PipelineThread:
    """Runs ``AnswerPipeline.stream`` on one thread and hands its events to the event loop."""

    def __init__(self, run: Callable[[threading.Event], Iterator[str | Answer]]) -> None:
        self.stop = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        threading.Thread(target=self._work, args=(run,), name="askdocs-api-answer", daemon=True).start()

    def _put(self, item: Any) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    def _work(self, run: Callable[[threading.Event], Iterator[str | Answer]]) -> None:
        try:
            for event in run(self.stop):
                self._put(event)
        except BaseException as error:  # handed to the reader, who decides what the client sees
            self._put(error)
        finally:
            self._put(_END)

    async def next(self) -> Any:
        """The next event, an exception the pipeline raised, or ``_END``."""
        return await self._queue.get()


async def sse_events(
    first: Any,
    worker: PipelineThread,
    collection: str,
    counts: ApiMetrics,
    recorder: Recorder | None = None,
    question: str = "",
) -> AsyncIterator[bytes]:
    sent: list[str] = []
    event = first
    started = time.perf_counter()
    finished = False
    try:
        while event is not _END:
            if isinstance(event, str):
                sent.append(event)
                yield _sse("token", TokenEvent(text=event))
            elif isinstance(event, Answer):
                if getattr(event, "incomplete", False):  # the pipeline kept a cut-off answer: say so first
                    counts.errors.inc(kind="generator")
                    message = getattr(event, "incomplete_reason", "") or "the answer broke off"
                    yield _sse("error", ErrorEvent(message=message, partial="".join(sent)))
                counts.ask_seconds.observe(event.timings.get("total", 0.0))
                if "first_token" in event.timings:  # absent when it abstained without asking the model
                    counts.first_token.observe(event.timings["first_token"])
                counts.answers.inc(outcome="abstained" if event.abstained else "answered")
                if recorder is not None:
                    await asyncio.to_thread(recorder.record_answer, event, "api", collection)  # a disk write
                finished = True
                yield _sse("answer", AnswerEvent.of(event, collection))
            else:  # an exception after the stream began
                kind = "generator" if isinstance(event, GeneratorUnavailable) else "internal"
                if kind == "internal":
                    log.error("answer failed mid-stream", exc_info=event)
                message = str(event) if kind == "generator" else f"internal error: {type(event).__name__}"
                counts.errors.inc(kind=kind)
                counts.answers.inc(outcome="error")
                if recorder is not None:
                    await asyncio.to_thread(
                        recorder.record_error,
                        "api",
                        collection,
                        kind,
                        time.perf_counter() - started,
                        question,
                    )
                finished = True
                yield _sse("error", ErrorEvent(message=message, partial="".join(sent)))
            event = await worker.next()
    finally:
        worker.stop.set()  # the client went away, or we are done: either way the model may stop
        if recorder is not None and not finished:  # the client left before the answer ended
            recorder.record_error(
                "api", collection, "", time.perf_counter() - started, question, outcome="stopped"
            )


def _event_schema(name: str, model: type) -> dict[str, Any]:
    """One event as OpenAPI 3.1 describes a stream's items: its name, and its data as embedded JSON."""
    data = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": {"$ref": f"#/components/schemas/{model.__name__}"},
    }
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {"event": {"const": name}, "data": data},
    }


SSE_EVENT = {
    "oneOf": [
        _event_schema("token", TokenEvent),
        _event_schema("answer", AnswerEvent),
        _event_schema("error", ErrorEvent),
    ]
}
