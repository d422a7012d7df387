"""How the API says no: ``Problem``'s shape for every error, and the handlers that give it that shape.

Errors before the first byte are HTTP statuses (403 restricted collection, 422 bad input, 503
generator or index down); once an answer's stream has begun, a failure is an ``error`` event instead
(``app.api.stream``).
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api.schemas import FieldError, Problem
from app.api.state import api_state
from retrieval.stores import StoreUnavailable


def problem(status: int, detail: str, **headers: str) -> HTTPException:
    return HTTPException(status, detail, headers=headers or None)


async def index_down(request: Request, error: StoreUnavailable) -> JSONResponse:
    api_state(request).counts.errors.inc(kind="index")
    return JSONResponse(
        Problem(detail=str(error)).model_dump(), status_code=503, headers={"Retry-After": "5"}
    )


async def malformed(_: Request, error: RequestValidationError) -> JSONResponse:
    # Problem's shape for every error; the offending input is not echoed (it may be huge, or a secret).
    fields = [
        FieldError(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type", "")))
        for e in error.errors()
    ]
    summary = "; ".join(f"{'.'.join(map(str, f.loc))}: {f.msg}" for f in fields)[:1000]
    body = Problem(detail=f"invalid request: {summary}", errors=fields)
    return JSONResponse(body.model_dump(), status_code=422)
