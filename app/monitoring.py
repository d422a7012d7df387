"""What every question cost and how it went, kept for the Monitor page and ``GET /metrics``.

Design choices:
- One :class:`RequestRecord` per question, from the UI or the REST API: stage timings (retrieval,
  rerank, first token, total), tokens in and out, the estimated cost, whether the cache answered,
  the outcome, the error kind if any, the route (UI or API) and, with routing on, the tier that
  answered (``generation.routing``). Feedback stays in ``app.feedback``.
- Stored in SQLite under DATA_DIR (``monitor.sqlite3``, WAL mode): every process, the UI and the API
  alike, appends to the same file safely, and the page's queries are SQL, not a scan of a log.
  Records are only ever inserted; the one deletion is the retention bound (older than
  ``monitor_retention_days``, or beyond ``monitor_max_records``), applied every ``PRUNE_EVERY`` writes.
- No question or answer text by default: questions may hold personal data. ``monitor_store_questions``
  stores the question; answers and user names are never stored here.
- Cost is an estimate from ``model_prices`` (USD per million tokens, by API model name); local models
  cost 0, a cached answer spent no tokens, an API model without a price counts as ``unpriced``.
- Monitoring never breaks an answer: a write that fails is logged and counted, not raised.
- Live counters for this process go to a :class:`~app.metrics.Registry`; ``store_metrics`` turns the
  shared file into gauges, which is how the UI process's numbers reach the API's ``/metrics``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import astuple
from pathlib import Path
from typing import Literal

from app import metrics
from app.monitor_records import COLUMNS, SCHEMA, RequestRecord, add_missing_columns, cost
from askdocs.settings import Settings
from askdocs.types import Answer

log = logging.getLogger(__name__)
Route = Literal["ui", "api"]
PRUNE_EVERY = 100
STAGES = ("retrieve", "rerank", "first_token", "total")


class Recorder:
    """Appends request records to ``path`` and counts them live.

    Example:
        >>> recorder = Recorder.from_settings(settings)  # doctest: +SKIP
        >>> recorder.record_answer(answer, "ui", "default").outcome  # doctest: +SKIP
        'answered'
    """

    def __init__(
        self,
        path: Path,
        retention_days: float = 90,
        max_records: int = 200_000,
        store_questions: bool = False,
        prices: Mapping[str, tuple[float, float]] | None = None,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.retention_s = retention_days * 86400
        self.max_records = max_records
        self.store_questions = store_questions
        self.scrub = scrub  # e.g. PII redaction (ASKDOCS_REDACT_PII) of a stored question
        self.prices = dict(prices or {})
        self._writes = 0
        self._lock = threading.Lock()
        self.registry = r = metrics.Registry()
        self.requests = r.counter(
            "askdocs_requests_total", "Questions answered, by route and outcome.", ("route", "outcome")
        )
        self.cache = r.counter(
            "askdocs_cache_total", "Semantic cache lookups: hit, miss, or skip.", ("route", "result")
        )
        self.tokens = r.counter(
            "askdocs_tokens_total", "Model tokens, in (prompt) and out.", ("route", "direction")
        )
        self.cost = r.counter("askdocs_cost_usd_total", "Estimated model cost in USD.", ("route",))
        self.unpriced = r.counter("askdocs_unpriced_answers_total", "API answers with no price.", ("route",))
        self.stages = r.histogram(
            "askdocs_stage_seconds", "Time per stage of a question.", ("route", "stage")
        )
        self.tiers = r.counter(
            "askdocs_tier_total", "Answers by routing tier: fast, strong, or cache.", ("route", "tier")
        )
        self.errors = r.counter(
            "askdocs_request_errors_total", "Failed questions by kind.", ("route", "kind")
        )
        self.write_errors = r.counter(
            "askdocs_monitor_write_errors_total", "Records that could not be stored."
        )
        connection = self._connect()
        try:
            add_missing_columns(connection)
        finally:
            connection.close()

    @classmethod
    def from_settings(cls, s: Settings) -> Recorder:
        from generation.redaction import stored_text_scrubber

        return cls(
            s.monitor_path,
            s.monitor_retention_days,
            s.monitor_max_records,
            s.monitor_store_questions,
            s.model_prices,
            stored_text_scrubber(s),
        )

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)
        return connection

    def _stored(self, question: str | None) -> str | None:
        if not self.store_questions or question is None:
            return None
        return self.scrub(question) if self.scrub is not None else question

    # -- writing --------------------------------------------------------------------------------
    def record_answer(
        self, answer: Answer, route: Route, collection: str, stopped: bool = False
    ) -> RequestRecord:
        t = answer.timings
        outcome = (
            "stopped"
            if stopped
            else "incomplete"
            if answer.incomplete
            else "abstained"
            if answer.abstained
            else "answered"
        )
        cache = "hit" if answer.cached else "miss" if "cache_lookup" in t else "skip"
        usd, priced = cost(answer.backend, answer.prompt_tokens, answer.completion_tokens, self.prices)
        first = t.get("first_token", t.get("total") if answer.cached else None)
        return self.add(
            RequestRecord(
                time.time(),
                route,
                collection,
                outcome,
                cache,
                answer.backend,
                t.get("total", 0.0),
                t.get("retrieve"),
                t.get("retrieve_rerank"),
                first,
                answer.prompt_tokens,
                answer.completion_tokens,
                usd,
                priced,
                "generator" if answer.incomplete else "",
                self._stored(answer.question),
                "cache" if answer.cached and answer.tier else answer.tier,
            )
        )

    def record_error(
        self,
        route: Route,
        collection: str,
        kind: str,
        seconds: float = 0.0,
        question: str | None = None,
        backend: str = "",
        outcome: str = "error",
    ) -> RequestRecord:
        """A question that ended without an answer: failed (``kind`` says where) or stopped by the user."""
        return self.add(
            RequestRecord(
                time.time(),
                route,
                collection,
                outcome,
                "skip",
                backend,
                seconds,
                None,
                None,
                None,
                0,
                0,
                0.0,
                True,
                kind,
                self._stored(question),
            )
        )

    def add(self, record: RequestRecord) -> RequestRecord:
        self._count(record)
        try:
            with self._lock:
                self._writes += 1
                prune = self._writes % PRUNE_EVERY == 1
            connection = self._connect()
            try:
                with connection:
                    connection.execute(
                        f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(COLUMNS))})",
                        astuple(record),
                    )
                    if prune:
                        self._prune(connection, record.at)
            finally:
                connection.close()
        except sqlite3.Error as error:
            log.warning("could not store a monitoring record in %s: %s", self.path, error)
            self.write_errors.inc()
        return record

    def _prune(self, connection: sqlite3.Connection, now: float) -> None:
        connection.execute("DELETE FROM requests WHERE at < ?", (now - self.retention_s,))
        connection.execute(
            "DELETE FROM requests WHERE id <= (SELECT MAX(id) FROM requests) - ?", (self.max_records,)
        )

    def prune(self, now: float | None = None) -> None:
        """Apply the retention bound now (``add`` does it every ``PRUNE_EVERY`` writes)."""
        connection = self._connect()
        try:
            with connection:
                self._prune(connection, time.time() if now is None else now)
        finally:
            connection.close()

    def _count(self, r: RequestRecord) -> None:
        self.requests.inc(route=r.route, outcome=r.outcome)
        self.cache.inc(route=r.route, result=r.cache)
        self.tokens.inc(r.prompt_tokens, route=r.route, direction="in")
        self.tokens.inc(r.completion_tokens, route=r.route, direction="out")
        self.cost.inc(r.cost_usd, route=r.route)
        if not r.priced:
            self.unpriced.inc(route=r.route)
        if r.error:
            self.errors.inc(route=r.route, kind=r.error)
        if r.tier:
            self.tiers.inc(route=r.route, tier=r.tier)
        for stage, seconds in zip(STAGES, (r.retrieve_s, r.rerank_s, r.first_token_s, r.total_s)):
            if seconds is not None and r.outcome not in ("error", "stopped"):
                self.stages.observe(seconds, route=r.route, stage=stage)

    # -- reading --------------------------------------------------------------------------------
    def records(self, since: float = 0.0) -> list[RequestRecord]:
        """Records that ended at or after ``since``, oldest first."""
        connection = self._connect()
        try:
            rows = connection.execute(
                f"SELECT {', '.join(COLUMNS)} FROM requests WHERE at >= ? ORDER BY id", (since,)
            ).fetchall()
        finally:
            connection.close()
        priced = COLUMNS.index("priced")
        return [RequestRecord(*(*row[:priced], bool(row[priced]), *row[priced + 1 :])) for row in rows]

    def store_metrics(self) -> str:
        """Gauges over every record kept (all processes, all routes), in Prometheus' text format."""
        registry = metrics.Registry()
        requests = registry.gauge(
            "askdocs_recorded_requests",
            "Recorded questions kept, by route, outcome and cache result (all processes).",
            ("route", "outcome", "cache"),
        )
        tokens = registry.gauge(
            "askdocs_recorded_tokens", "Recorded tokens kept (all processes).", ("route", "direction")
        )
        usd = registry.gauge(
            "askdocs_recorded_cost_usd", "Recorded estimated cost kept (all processes).", ("route",)
        )
        tiers = registry.gauge(
            "askdocs_recorded_tiers",
            "Recorded answers kept by routing tier (all processes).",
            ("route", "tier"),
        )
        connection = self._connect()
        try:
            for route, outcome, cache, n in connection.execute(
                "SELECT route, outcome, cache, COUNT(*) FROM requests GROUP BY route, outcome, cache"
            ):
                requests.set(n, route=route, outcome=outcome, cache=cache)
            for route, tin, tout, spent in connection.execute(
                "SELECT route, SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd) FROM requests "
                "GROUP BY route"
            ):
                tokens.set(tin or 0, route=route, direction="in")
                tokens.set(tout or 0, route=route, direction="out")
                usd.set(spent or 0.0, route=route)
            for route, tier, n in connection.execute(
                "SELECT route, tier, COUNT(*) FROM requests WHERE tier != '' GROUP BY route, tier"
            ):
                tiers.set(n, route=route, tier=tier)
        finally:
            connection.close()
        return registry.render()
