"""A collection's documents: listed for readers; uploaded and deleted by admins.

An upload goes through the ingestion queue (``Ingestor.ingest_bytes``, then one BM25 rebuild), the
same path as the UI's, with the UI's size limit checked before any parsing.
"""

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.api.dependencies import ERRORS, Admin, CollectionName, State, User, readable
from app.api.errors import problem
from app.api.ops import too_large
from app.api.schemas import DocumentOut, IngestOut, Problem
from ingest.loaders import supported_kinds

router = APIRouter()


@router.get(
    "/collections/{collection}/documents",
    tags=["documents"],
    response_model=list[DocumentOut],
    responses=ERRORS,
)
def documents(collection: CollectionName, who: User, api: State) -> list[DocumentOut]:
    readable(api, collection, who)
    return [DocumentOut.of(d) for d in api.parts.runtime.store.documents(collection)]


@router.post(
    "/collections/{collection}/documents",
    tags=["documents"],
    response_model=IngestOut,
    status_code=201,
    description=f"Index one file ({supported_kinds()}) into the collection, creating it if needed (admins).",
    responses={
        **ERRORS,
        200: {"model": IngestOut, "description": "Unchanged: the same bytes are indexed."},
        413: {"model": Problem},
    },
)
async def upload(
    collection: CollectionName, file: Annotated[UploadFile, File()], _: Admin, api: State
) -> Any:
    # Described in the decorator, not a docstring: the description names the loader registry's kinds.
    s, jobs = api.parts.settings, api.parts.jobs
    data = await file.read(s.max_upload_bytes + 1)
    if len(data) > s.max_upload_bytes:  # the UI's limit, checked before any parsing
        raise problem(413, too_large(file.size or len(data), s))
    job_id = jobs.submit([(file.filename or "upload", data)], collection)
    job = await run_in_threadpool(jobs.wait, job_id)
    outcome = job.files[0].outcome
    if outcome is None or outcome.detail.startswith("internal error"):
        raise problem(500, outcome.detail if outcome else "internal error: the ingestion job was lost")
    body = IngestOut.of(outcome, collection, job.detail)
    if outcome.status == "refused":
        return JSONResponse(Problem(detail=outcome.detail).model_dump() | body.model_dump(), status_code=422)
    return JSONResponse(body.model_dump(), status_code=200 if outcome.status == "unchanged" else 201)


@router.delete(
    "/collections/{collection}/documents/{document:path}",
    tags=["documents"],
    response_model=IngestOut,
    responses=ERRORS,
)
def delete(collection: CollectionName, document: str, _: Admin, api: State) -> IngestOut:
    """Remove a document (by source name or id) and its chunks (admins)."""
    if collection not in api.parts.runtime.store.collections():
        raise problem(404, f"no collection {collection!r}")
    outcome = api.parts.ingestor.delete(collection, document)
    if outcome.status == "not found":
        raise problem(404, outcome.detail)
    return IngestOut.of(outcome, collection, "BM25 index rebuilt")
