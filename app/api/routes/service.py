"""The service's own state: ``/health`` for load balancers and compose, ``/metrics`` for Prometheus."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from app import metrics
from app.api.dependencies import State
from app.api.ops import health as health_report
from app.api.schemas import HealthOut

router = APIRouter()


@router.get(
    "/health",
    tags=["service"],
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A part is not working."}},
)
def health(api: State) -> JSONResponse:
    """Whether the store, the keyword index and the embedder answer, and which generator is set."""
    report = health_report(api.parts)
    return JSONResponse(report.model_dump(), status_code=200 if report.status == "ok" else 503)


@router.get(
    "/metrics",
    tags=["service"],
    response_class=PlainTextResponse,
    responses={200: {"content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
def prometheus(api: State) -> PlainTextResponse:
    """Counters and latency histograms in Prometheus' text format.

    This process's live counters (HTTP, answers, stages, tokens, cost, cache), then gauges over the
    monitoring store every process appends to, the UI's included (``askdocs_recorded_*``).
    """
    body = api.counts.registry.render() + api.recorder.registry.render() + api.recorder.store_metrics()
    return PlainTextResponse(body, media_type=metrics.CONTENT_TYPE)
