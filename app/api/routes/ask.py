"""``POST /ask``: one question, answered by ``AnswerPipeline.stream`` and streamed as server-sent events.

Everything that can refuse the question is decided before the first byte, as an HTTP status: an
empty question (422), the rate limit (429), a generator that will not load (503), and whatever the
pipeline raises before its first event (403 restricted collection, 422 bad input, 503 generator or
index down). After that the stream owns failures (``app.api.stream``).
"""

import math

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from app.api.dependencies import ERRORS, State, User
from app.api.errors import problem
from app.api.schemas import AskRequest, Problem
from app.api.state import ApiState
from app.api.stream import SSE_EVENT, PipelineThread, sse_events
from app.ratelimit import limit_key
from askdocs.types import Principal
from generation.generators import GeneratorUnavailable
from generation.pipeline import AnswerPipeline, Turn
from retrieval.access import AccessDenied
from retrieval.stores import StoreUnavailable

router = APIRouter()


@router.post(
    "/ask",
    tags=["ask"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `token` (TokenEvent) pieces as they come, then one `answer` "
            "(AnswerEvent), or an `error` (ErrorEvent) after the text already sent.",
            "content": {"text/event-stream": {"schema": SSE_EVENT}},
        },
        **ERRORS,
        429: {"model": Problem, "description": "Too many questions from this caller in the last minute."},
        503: {"model": Problem, "description": "The generator or the document index is not available."},
    },
)
async def ask(body: AskRequest, who: User, request: Request, api: State) -> StreamingResponse:
    """Answer a question from the documents of one collection the caller may read."""
    collection = body.collection or api.parts.settings.default_collection
    if not body.question.strip():
        raise problem(422, "the question is empty")
    _check_rate(api, who, request)
    pipeline = await _pipeline(api, body, collection)
    history = [Turn(t.question, t.answer) for t in body.history]
    worker = PipelineThread(
        lambda stop: pipeline.stream(body.question, collection, history, body.doc_ids, stop, who)
    )
    try:
        first = await worker.next()
    except BaseException:  # cancelled while searching: let the model go
        worker.stop.set()
        raise
    if isinstance(first, BaseException):
        worker.stop.set()
        _refuse(api, first, body, collection)
    return StreamingResponse(
        sse_events(first, worker, collection, api.counts, api.recorder, body.question),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _check_rate(api: ApiState, who: Principal, request: Request) -> None:
    address = request.client.host if request.client else None
    decision = api.limiter.check(limit_key(who, address, "api"))
    if not decision.allowed:
        api.counts.errors.inc(kind="rate_limited")
        raise problem(
            429, decision.message, **{"Retry-After": str(max(1, math.ceil(decision.retry_after_s)))}
        )


async def _pipeline(api: ApiState, body: AskRequest, collection: str) -> AnswerPipeline:
    """The answer pipeline over this question's generators; loading one may take a while, off the loop."""
    parts = api.parts
    try:
        generator = await run_in_threadpool(parts.generator)
        fast = await run_in_threadpool(parts.fast_generator) if parts.fast_generator else None
    except GeneratorUnavailable as error:
        raise _generator_down(api, error, body, collection) from None
    return parts.runtime.pipeline(generator, cache=api.cache, fast_generator=fast)


def _refuse(api: ApiState, error: BaseException, body: AskRequest, collection: str) -> None:
    """Raise what the client sees for a pipeline that failed before its first event."""
    if isinstance(error, AccessDenied):
        raise problem(403, str(error))
    if isinstance(error, ValueError):  # an empty question, a malformed collection name
        raise problem(422, str(error))
    if isinstance(error, GeneratorUnavailable):
        raise _generator_down(api, error, body, collection)
    if isinstance(error, StoreUnavailable):
        api.recorder.record_error("api", collection, "index", question=body.question)
    raise error  # StoreUnavailable included: the app's handler makes it a 503


def _generator_down(
    api: ApiState, error: GeneratorUnavailable, body: AskRequest, collection: str
) -> HTTPException:
    """Count and record a generator that is not answering; the 503 to raise."""
    api.counts.errors.inc(kind="generator")
    api.recorder.record_error("api", collection, "generator", question=body.question)
    return problem(503, f"the generator is not available: {error}")
