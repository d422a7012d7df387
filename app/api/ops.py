"""What the API does around the answers: counting requests, bounding bodies, reporting health.

``ApiMetrics`` names the API's series on ``app.metrics`` (a module of its own, for the Monitor work
to reuse); ``Guard`` is the one middleware; ``health`` probes each part without ever raising.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

from app import metrics
from app.api.parts import ApiParts
from app.api.schemas import Check, HealthOut
from askdocs.settings import Settings


class ApiMetrics:
    """The API's counters (``app.metrics``); the Monitor work reuses the module, not these names."""

    def __init__(self) -> None:
        self.registry = r = metrics.Registry()
        self.requests = r.counter(
            "askdocs_http_requests_total", "HTTP requests by route and status.", ("route", "method", "status")
        )
        self.ask_seconds = r.histogram("askdocs_ask_seconds", "Time to answer POST /ask, to the last event.")
        self.first_token = r.histogram("askdocs_ask_first_token_seconds", "Time to the first answer text.")
        self.answers = r.counter("askdocs_answers_total", "Answers by outcome.", ("outcome",))
        self.errors = r.counter("askdocs_errors_total", "Failures by kind.", ("kind",))


def too_large(size: int, s: Settings) -> str:
    return f"too large: {size / 2**20:.1f} MB, the limit is {s.max_upload_mb:g} MB"  # ingest.validate's words


class Guard:
    """Counts every request by route and status, and refuses bodies over the upload limit.

    Pure ASGI rather than ``@app.middleware``: it must see the request before FastAPI reads the body
    (a declared Content-Length over the limit is refused unread; a chunked body is cut off when it
    passes it), and must count those refusals too.
    """

    def __init__(self, app: Any, counts: ApiMetrics, limit: int, settings: Settings) -> None:
        self.app, self.counts, self.limit, self.settings = app, counts, limit, settings

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, received = 500, 0

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        async def receiving() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # FastAPI turns this into the response while it reads the body
                limit = self.settings.max_upload_mb
                raise HTTPException(
                    413, f"too large: over {received / 2**20:.1f} MB sent, the limit is {limit:g} MB"
                )
            return message

        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"0")
        try:
            if length.isdigit() and int(length) > self.limit:
                await JSONResponse({"detail": too_large(int(length), self.settings)}, 413)(
                    scope, receive, sending
                )
            else:
                await self.app(scope, receiving, sending)
        finally:
            # The route's template, so ids in paths cannot grow the series.
            route = getattr(scope.get("route"), "path", "(unmatched)")
            self.counts.requests.inc(route=route, method=scope["method"], status=str(status))
            if status >= 500:
                self.counts.errors.inc(kind="server")


def health(parts: ApiParts) -> HealthOut:
    store, bm25, s = parts.runtime.store, parts.runtime.bm25, parts.settings

    def check(probe: Callable[[], str]) -> Check:
        try:
            return Check(ok=True, detail=probe())
        except Exception as error:  # a health check reports failures, it does not raise them
            return Check(ok=False, detail=f"{type(error).__name__}: {error}"[:200])

    def keyword_index() -> str:
        stale = [c for c in store.collections() if len(bm25.get(c)) != store.count(c)]
        if stale:
            raise RuntimeError(f"{len(stale)} collection(s) out of step with the store")
        return f"{len(store.collections())} collection(s) in step with the store"

    loaded = getattr(parts.generator, "loaded", lambda: False)()
    model = s.generator_model if s.generator_backend != "openai" else f"{s.api_model} (OpenAI-compatible API)"
    checks = {
        "store": check(lambda: f"{sum(store.count(c) for c in store.collections())} chunks"),
        "bm25": check(keyword_index),
        "embedder": check(lambda: f"{parts.runtime.embedder.embed(['health check']).shape[1]}-d vectors"),
        "generator": Check(ok=True, detail=f"{s.generator_backend}: {model}{' (loaded)' if loaded else ''}"),
    }
    return HealthOut(status="ok" if all(c.ok for c in checks.values()) else "degraded", **checks)
