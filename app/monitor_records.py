"""One monitoring record, its SQLite schema and its estimated cost (``app.monitoring`` writes them).

Columns are only ever added (``ADDED_COLUMNS``), so a file written by an older version is brought up to
date in place, and every process, old or new, can append to the same file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class RequestRecord:
    at: float  # Unix time the answer ended
    route: str  # "ui" or "api"
    collection: str
    outcome: str  # answered, abstained, incomplete, stopped, error
    cache: str  # hit, miss (looked up, not found) or skip (cache off, or a follow-up)
    backend: str
    total_s: float
    retrieve_s: float | None
    rerank_s: float | None
    first_token_s: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    priced: bool  # False: an API model with no price in model_prices
    error: str = ""  # the kind of failure (generator, index, internal); empty when none
    question: str | None = None  # only with monitor_store_questions
    tier: str = ""  # routing's choice: fast or strong; "cache" for a cached answer; "" without routing

    @property
    def cached(self) -> bool:
        return self.cache == "hit"


COLUMNS = [f.name for f in fields(RequestRecord)]
SCHEMA = f"""CREATE TABLE IF NOT EXISTS requests
    (id INTEGER PRIMARY KEY AUTOINCREMENT, {", ".join(COLUMNS)});
CREATE INDEX IF NOT EXISTS requests_at ON requests (at);"""
_ADDEDCOLUMNS = {"tier": "''"}  # columns newer than the first schema, with their SQL default


def cost(
    backend: str, prompt_tokens: int, completion_tokens: int, prices: Mapping[str, tuple[float, float]]
) -> tuple[float, bool]:
    """Estimated USD for a backend name (``api:MODEL@URL``, ``local:…``) and whether it had a price."""
    if not backend.startswith("api:"):
        return 0.0, True  # local models, abstentions ("none"), test fakes: nothing billed
    model = backend.removeprefix("api:").rsplit("@", 1)[0]
    if model not in prices:
        return 0.0, prompt_tokens + completion_tokens == 0
    per_input, per_output = prices[model]
    return (prompt_tokens * per_input + completion_tokens * per_output) / 1_000_000, True


def add_missing_columns(connection: sqlite3.Connection) -> None:
    """Bring a file written by an older version up to today's columns (columns are only ever added)."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(requests)")}
    with connection:
        for name, sql_default in _ADDEDCOLUMNS.items():
            if name not in present:
                connection.execute(f"ALTER TABLE requests ADD COLUMN {name} DEFAULT {sql_default}")
