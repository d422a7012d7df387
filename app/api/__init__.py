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
- Errors before the first byte are HTTP statuses (403 restricted collection, 422 bad input, 503
  generator down); once the stream has begun, a failure is an ``error`` event after the text already
  sent, never a silent cut.
- One semantic cache per app (``generation.cache``), shared by every request; the answer event says
  ``cached``. Every question is recorded (``app.monitoring``, route ``api``) in the monitoring store
  the UI writes too; ``/metrics`` shows this process's live counters and gauges over that store.
- The embedded Chroma folder has one writer: run the API and the UI together only with
  ``ASKDOCS_CHROMA_MODE=server`` (the store's lock refuses a second process otherwise).

Modules, each importing only those listed before it (no circle):
``schemas`` (the wire format), ``keys`` (API keys), ``parts`` (what the API serves with, from
settings), ``ops`` (counting, body limits, health), ``state`` (one app's counters, cache, recorder,
rate limit), ``stream`` (answers on a thread of their own, as server-sent events), ``errors``,
``dependencies`` (who is asking), ``routes`` (one router per concern), ``factory`` (``create_app``),
``cli`` (``python -m app.api``).
"""

from app.api.cli import main
from app.api.factory import create_app
from app.api.parts import ApiParts, once, parts_from_settings

__all__ = ["ApiParts", "create_app", "main", "once", "parts_from_settings"]
