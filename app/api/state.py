"""What one app holds beside its parts: counters, the semantic cache, the recorder and the rate limit.

Built once by ``create_app`` and kept on ``app.state.api``, so the routes (module-level routers,
shared by every app a process builds) find the app's own through the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from app.api.ops import ApiMetrics
from app.api.parts import ApiParts
from app.monitoring import Recorder
from app.ratelimit import RateLimiter
from generation.cache import SemanticCache


@dataclass(frozen=True)
class ApiState:
    """One app's live state; one semantic cache per app, shared by every request."""

    parts: ApiParts
    counts: ApiMetrics
    cache: SemanticCache | None
    recorder: Recorder
    limiter: RateLimiter  # the same per-user budget as the Ask page's, per process


def api_state(request: Request) -> ApiState:
    """The state of the app serving ``request`` (a FastAPI dependency, too)."""
    return request.app.state.api
