"""``create_app(parts)``: the FastAPI app over parts already built, its middleware and its routers.

Small on purpose: the routes live in ``app.api.routes`` and find this app's state (counters, cache,
recorder, rate limit: ``app.api.state``) through the request, so a process may build several apps
over different parts (tests do) without one route seeing another's.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from app.api.errors import index_down, malformed
from app.api.ops import ApiMetrics, Guard
from app.api.parts import ApiParts
from app.api.routes import ask, collections, documents, service
from app.api.schemas import AnswerEvent, ErrorEvent, TokenEvent
from app.api.state import ApiState
from app.monitoring import Recorder
from app.ratelimit import RateLimiter
from retrieval.stores import StoreUnavailable

FORM_OVERHEAD = 2**20  # multipart boundaries and headers on top of the largest allowed file


def create_app(parts: ApiParts) -> FastAPI:
    s = parts.settings
    app = FastAPI(
        title="askdocs",
        version="1.0",
        description="Ask questions about your documents; answers stream as server-sent events with cited sources.",
    )
    counts = ApiMetrics()
    app.state.api = ApiState(
        parts, counts, parts.runtime.cache, Recorder.from_settings(s), RateLimiter(s.rate_limit_per_minute)
    )
    app.add_middleware(Guard, counts=counts, limit=s.max_upload_bytes + FORM_OVERHEAD, settings=s)
    for routes in (ask, collections, documents, service):
        app.include_router(routes.router)
    app.add_exception_handler(StoreUnavailable, index_down)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, malformed)  # type: ignore[arg-type]
    app.openapi = _openapi_with_events(app)  # type: ignore[method-assign]
    return app


def _openapi_with_events(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        """FastAPI's schema, plus the event payloads (no route returns them as JSON, so it omits them)."""
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            _, defs = models_json_schema(
                [(m, "serialization") for m in (TokenEvent, AnswerEvent, ErrorEvent)],
                ref_template="#/components/schemas/{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi
