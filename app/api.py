"""The REST API: ask (streamed as server-sent events), documents, collections, health, metrics.

    python -m app.api                                   # serve on ASKDOCS_REST_HOST:ASKDOCS_REST_PORT
    python -m app.api keys new --user bob --groups sales  # print a new API key once, and its line

Design choices:
- Same packages as the UI, no logic of its own: ``AnswerPipeline.stream`` answers, the ingestion
  queue (``Ingestor.ingest_bytes``, then one BM25 rebuild) ingests, the retriever enforces
  collection policies for the :class:`Principal` a key acts as. No key is the anonymous visitor.
- ``create_app(parts)`` takes the models and the store already built, so tests (and a process that
  already holds them) choose the generator; ``python -m app.api`` builds them once from settings.
  The local generator is loaded on the first question, not at start, and behind a lock.
- Answers stream from a thread of their own (``app.api_stream``); counting, body limits and health
  live in ``app.api_ops``, the wire format in ``app.api_schemas``, keys in ``app.api_keys``.
- Errors before the first byte are HTTP statuses (403 restricted collection, 422 bad input, 503
  generator down); once the stream has begun, a failure is an ``error`` event after the text already
  sent, never a silent cut.
- One semantic cache per app (``generation.cache``), shared by every request; the answer event says
  ``cached``. Every question is recorded (``app.monitoring``, route ``api``) in the monitoring store
  the UI writes too; ``/metrics`` shows this process's live counters and gauges over that store.
- The embedded Chroma folder has one writer: run the API and the UI together only with
  ``ASKDOCS_CHROMA_MODE=server`` (the store's lock refuses a second process otherwise).
- No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, and those
  that name aliases local to ``create_app`` cannot be resolved from strings.
"""

import argparse
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, HTTPException, Path, Request, Security, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic.json_schema import models_json_schema

from app import metrics
from app.api_keys import KeyRing
from app.api_ops import ApiMetrics, Guard, too_large
from app.api_ops import health as health_report
from app.api_schemas import (
    COLLECTION, AnswerEvent, AskRequest, CollectionOut, DocumentOut, ErrorEvent, FieldError, HealthOut, IngestOut,
    Problem, TokenEvent,
)
from app.api_stream import SSE_EVENT, PipelineThread, sse_events
from app.monitoring import Recorder
from app.ratelimit import RateLimiter, limit_key
from askdocs.settings import Settings
from askdocs.types import Principal
from generation.cache import cache_from_settings
from generation.generators import Generator, GeneratorUnavailable
from generation.pipeline import AnswerPipeline, Turn
from ingest.jobs import IngestionQueue
from ingest.loaders import supported_kinds
from ingest.pipeline import Ingestor
from retrieval.access import AccessDenied
from retrieval.factory import RetrievalStack
from retrieval.stores import StoreUnavailable

log = logging.getLogger("askdocs.api")
FORM_OVERHEAD = 2**20  # multipart boundaries and headers on top of the largest allowed file


@dataclass(frozen=True)
class ApiParts:
    """What the API serves with, built once per process."""

    settings: Settings
    stack: RetrievalStack
    ingestor: Ingestor
    jobs: IngestionQueue
    keys: KeyRing
    generator: Callable[[], Generator]  # called per question; a loader should cache (see ``once``)
    fast_generator: Callable[[], Generator] | None = None  # routing's fast tier (generation/routing.py)


def once(factory: Callable[[], Generator]) -> Callable[[], Generator]:
    """``factory`` run on first use only, under a lock, so two first questions load one model."""
    lock, made = threading.Lock(), []

    def get() -> Generator:
        with lock:
            if not made:
                made.append(factory())
            return made[0]

    get.loaded = lambda: bool(made)  # type: ignore[attr-defined]
    return get


def _problem(status: int, detail: str, **headers: str) -> HTTPException:
    return HTTPException(status, detail, headers=headers or None)


def create_app(parts: ApiParts) -> FastAPI:
    s = parts.settings
    store = parts.stack.store
    counts = ApiMetrics()
    app = FastAPI(
        title="askdocs", version="1.0",
        description="Ask questions about your documents; answers stream as server-sent events with cited sources.",
    )
    cache = cache_from_settings(parts.stack, s)
    recorder = Recorder.from_settings(s)
    app.state.parts, app.state.metrics, app.state.cache, app.state.recorder = parts, counts, cache, recorder
    limiter = RateLimiter(s.rate_limit_per_minute)  # the same per-user budget as the Ask page's, per process
    bearer = HTTPBearer(auto_error=False, description="An API key from `python -m app.api keys new`.")

    def principal(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None
    ) -> Principal:
        header = request.headers.get("authorization")
        if header is None:
            return Principal.anonymous()
        scheme, _, key = header.partition(" ")
        found = parts.keys.principal(key) if scheme.lower() == "bearer" else None
        if found is None:  # never echo the key back
            raise _problem(401, "invalid API key", **{"WWW-Authenticate": "Bearer"})
        return found

    def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.name is None:
            raise _problem(401, "this needs an admin's API key", **{"WWW-Authenticate": "Bearer"})
        if not who.is_admin:
            raise _problem(403, "this needs an admin's API key")
        return who

    def readable(collection: str, who: Principal) -> None:
        if collection not in store.collections():
            raise _problem(404, f"no collection {collection!r}")
        if not store.policy(collection).allows(who):
            raise _problem(403, f"you do not have access to the collection {collection!r}")

    User = Annotated[Principal, Depends(principal)]
    Admin = Annotated[Principal, Depends(admin)]
    CollectionName = Annotated[str, Path(pattern=COLLECTION)]
    errors = {code: {"model": Problem} for code in (401, 403, 404, 422)}

    app.add_middleware(Guard, counts=counts, limit=s.max_upload_bytes + FORM_OVERHEAD, settings=s)

    @app.post(
        "/ask", tags=["ask"], response_class=StreamingResponse,
        responses={
            200: {"description": "Server-sent events: `token` (TokenEvent) pieces as they come, then one `answer` "
                                 "(AnswerEvent), or an `error` (ErrorEvent) after the text already sent.",
                  "content": {"text/event-stream": {"schema": SSE_EVENT}}},
            **errors,
            429: {"model": Problem, "description": "Too many questions from this caller in the last minute."},
            503: {"model": Problem, "description": "The generator or the document index is not available."},
        },
    )
    async def ask(body: AskRequest, who: User, request: Request) -> StreamingResponse:
        """Answer a question from the documents of one collection the caller may read."""
        collection = body.collection or s.default_collection
        if not body.question.strip():
            raise _problem(422, "the question is empty")
        address = request.client.host if request.client else None
        decision = limiter.check(limit_key(who, address, "api"))
        if not decision.allowed:
            counts.errors.inc(kind="rate_limited")
            raise _problem(429, decision.message, **{"Retry-After": str(max(1, math.ceil(decision.retry_after_s)))})
        try:
            generator = await run_in_threadpool(parts.generator)
            fast = await run_in_threadpool(parts.fast_generator) if parts.fast_generator else None
        except GeneratorUnavailable as error:
            counts.errors.inc(kind="generator")
            recorder.record_error("api", collection, "generator", question=body.question)
            raise _problem(503, f"the generator is not available: {error}") from None
        pipeline = AnswerPipeline(parts.stack.retriever, generator, s, cache, fast_generator=fast)
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
            if isinstance(first, AccessDenied):
                raise _problem(403, str(first))
            if isinstance(first, ValueError):  # an empty question, a malformed collection name
                raise _problem(422, str(first))
            if isinstance(first, GeneratorUnavailable):
                counts.errors.inc(kind="generator")
                recorder.record_error("api", collection, "generator", question=body.question)
                raise _problem(503, f"the generator is not available: {first}")
            if isinstance(first, StoreUnavailable):
                recorder.record_error("api", collection, "index", question=body.question)
            raise first  # StoreUnavailable included: the handler below makes it a 503
        return StreamingResponse(sse_events(first, worker, collection, counts, recorder, body.question), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/collections", tags=["documents"], response_model=list[CollectionOut], responses=errors)
    def collections(who: User) -> list[CollectionOut]:
        """The collections the caller may read (the others are not named)."""
        found = []
        for name in store.collections():
            policy = store.policy(name)
            if policy.allows(who):
                found.append(CollectionOut(name=name, documents=len(store.documents(name)),
                                           chunks=store.count(name), restricted=policy.restricted))
        return found

    @app.get("/collections/{collection}/documents", tags=["documents"], response_model=list[DocumentOut],
             responses=errors)
    def documents(collection: CollectionName, who: User) -> list[DocumentOut]:
        readable(collection, who)
        return [DocumentOut.of(d) for d in store.documents(collection)]

    @app.post(
        "/collections/{collection}/documents", tags=["documents"], response_model=IngestOut, status_code=201,
        responses={**errors, 200: {"model": IngestOut, "description": "Unchanged: the same bytes are indexed."},
                   413: {"model": Problem}},
        description=f"Index one file ({supported_kinds()}) into the collection, creating it if needed (admins).",
    )
    async def upload(collection: CollectionName, file: Annotated[UploadFile, File()], _: Admin) -> Any:
        # The description above, not a docstring: it names the kinds the loader registry holds.
        data = await file.read(s.max_upload_bytes + 1)
        if len(data) > s.max_upload_bytes:  # the UI's limit, checked before any parsing
            raise _problem(413, too_large(file.size or len(data), s))
        job_id = parts.jobs.submit([(file.filename or "upload", data)], collection)
        job = await run_in_threadpool(parts.jobs.wait, job_id)
        outcome = job.files[0].outcome
        if outcome is None or outcome.detail.startswith("internal error"):
            raise _problem(500, outcome.detail if outcome else "internal error: the ingestion job was lost")
        body = IngestOut.of(outcome, collection, job.detail)
        if outcome.status == "refused":
            return JSONResponse(Problem(detail=outcome.detail).model_dump() | body.model_dump(), status_code=422)
        return JSONResponse(body.model_dump(), status_code=200 if outcome.status == "unchanged" else 201)

    @app.delete("/collections/{collection}/documents/{document:path}", tags=["documents"],
                response_model=IngestOut, responses=errors)
    def delete(collection: CollectionName, document: str, _: Admin) -> IngestOut:
        """Remove a document (by source name or id) and its chunks (admins)."""
        if collection not in store.collections():
            raise _problem(404, f"no collection {collection!r}")
        outcome = parts.ingestor.delete(collection, document)
        if outcome.status == "not found":
            raise _problem(404, outcome.detail)
        return IngestOut.of(outcome, collection, "BM25 index rebuilt")

    @app.get("/health", tags=["service"], response_model=HealthOut,
             responses={503: {"model": HealthOut, "description": "A part is not working."}})
    def health() -> JSONResponse:
        """Whether the store, the keyword index and the embedder answer, and which generator is set."""
        report = health_report(parts)
        return JSONResponse(report.model_dump(), status_code=200 if report.status == "ok" else 503)

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse,
             responses={200: {"content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}}}})
    def prometheus() -> PlainTextResponse:
        """Counters and latency histograms in Prometheus' text format.

        This process's live counters (HTTP, answers, stages, tokens, cost, cache), then gauges over the
        monitoring store every process appends to, the UI's included (``askdocs_recorded_*``).
        """
        body = counts.registry.render() + recorder.registry.render() + recorder.store_metrics()
        return PlainTextResponse(body, media_type=metrics.CONTENT_TYPE)

    @app.exception_handler(StoreUnavailable)
    async def index_down(_: Request, error: StoreUnavailable) -> JSONResponse:
        counts.errors.inc(kind="index")
        return JSONResponse(Problem(detail=str(error)).model_dump(), status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, error: RequestValidationError) -> JSONResponse:
        # Problem's shape for every error; the offending input is not echoed (it may be huge, or a secret).
        fields = [FieldError(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type", "")))
                  for e in error.errors()]
        summary = "; ".join(f"{'.'.join(map(str, f.loc))}: {f.msg}" for f in fields)[:1000]
        body = Problem(detail=f"invalid request: {summary}", errors=fields)
        return JSONResponse(body.model_dump(), status_code=422)

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, plus the event payloads (no route returns them as JSON, so it omits them)."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            _, defs = models_json_schema([(m, "serialization") for m in (TokenEvent, AnswerEvent, ErrorEvent)],
                                         ref_template="#/components/schemas/{model}")
            schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


# -- running it ----------------------------------------------------------------------------------
def parts_from_settings(settings: Settings) -> ApiParts:
    """Open the store and load the embedder now; the generator loads on the first question."""
    from askdocs.quiet import quiet_libraries
    from generation.generators import fast_generator_from_settings, generator_from_settings
    from retrieval.factory import open_retrieval

    quiet_libraries()
    keys = KeyRing.from_file(settings.api_keys_path)  # a malformed file stops us before any model loads
    stack = open_retrieval(settings)
    ingestor = Ingestor(stack.store, stack.embedder, stack.bm25, settings)
    fast = once(lambda: fast_generator_from_settings(settings)) if settings.fast_generator_model else None
    return ApiParts(settings, stack, ingestor, IngestionQueue(ingestor), keys,
                    once(lambda: generator_from_settings(settings)), fast)


def _new_key(args: argparse.Namespace) -> None:
    from app.api_keys import new_key

    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    key, record = new_key(args.user, groups, args.admin)
    print(f"API key for {args.user} (shown once; give it to the program, keep it secret):\n\n  {key}\n")
    print(f"Add this line to the keys file ({args.keys_file}) and restart the API:\n\n  {record.line()}")


def main(argv: list[str] | None = None) -> None:
    from askdocs.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m app.api", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")
    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="action", required=True)
    new = keys.add_parser("new", help="create a key; prints it once and the line for the keys file")
    new.add_argument("--user", required=True, help="the user name the key acts as (collection policies)")
    new.add_argument("--groups", default="", help="comma-separated groups")
    new.add_argument("--admin", action="store_true", help="may upload and delete documents")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "keys":
        args.keys_file = settings.api_keys_path
        try:
            _new_key(args)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        return

    import uvicorn

    from app.api_keys import KeysFileError
    from retrieval.stores import StoreLocked

    try:
        parts = parts_from_settings(settings)
    except (KeysFileError, StoreLocked) as error:
        raise SystemExit(f"error: {error}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("%d API key(s) configured", len(parts.keys))
    try:
        uvicorn.run(create_app(parts), host=settings.rest_host, port=settings.rest_port)
    finally:
        parts.stack.close()


if __name__ == "__main__":
    main()
