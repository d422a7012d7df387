"""The Monitor page's numbers, from request records: per time bucket, as pandas tables ready to chart.

Kept apart from the page so they can be tested without Streamlit. Latency percentiles count only
questions that ended with an answer (an error or a stop has no meaningful total); the error rate
counts errors among all questions; the cache hit rate counts hits among lookups (hits + misses:
follow-ups and a disabled cache are not lookups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd

from app.monitor_records import RequestRecord

ANSWERED = ("answered", "abstained", "incomplete")


def frame(records: Sequence[RequestRecord]) -> pd.DataFrame:
    """Records as a table indexed by their end time (UTC)."""
    table = pd.DataFrame([asdict(r) for r in records], columns=list(RequestRecord.__dataclass_fields__))
    table.index = pd.to_datetime(table["at"], unit="s", utc=True)
    return table


def latency(table: pd.DataFrame, freq: str) -> pd.DataFrame:
    """p50, p95 and p99 of the total time per bucket, in seconds."""
    done = table[table["outcome"].isin(ANSWERED)]["total_s"].astype(float)
    grouped = done.groupby(pd.Grouper(freq=freq))
    out = pd.DataFrame({f"p{q}": grouped.quantile(q / 100) for q in (50, 95, 99)})
    return out.dropna(how="all")


def rates(table: pd.DataFrame, freq: str) -> pd.DataFrame:
    """Error rate and cache hit rate (0-1) per bucket; NaN where there was nothing to count."""
    grouped = table.groupby(pd.Grouper(freq=freq))
    questions = grouped.size()
    errors = grouped["outcome"].apply(lambda s: int((s == "error").sum()))
    hits = grouped["cache"].apply(lambda s: int((s == "hit").sum()))
    lookups = grouped["cache"].apply(lambda s: int(s.isin(["hit", "miss"]).sum()))
    out = pd.DataFrame(
        {
            "error rate": errors / questions.where(questions > 0),
            "cache hit rate": hits / lookups.where(lookups > 0),
        }
    )
    return out[questions > 0]


def usage(table: pd.DataFrame) -> pd.DataFrame:
    """Tokens in and out and estimated cost (USD) per day."""
    grouped = table.groupby(pd.Grouper(freq="D"))
    out = pd.DataFrame(
        {
            "tokens in": grouped["prompt_tokens"].sum(),
            "tokens out": grouped["completion_tokens"].sum(),
            "cost (USD)": grouped["cost_usd"].sum(),
        }
    )
    return out[grouped.size() > 0]


def totals(table: pd.DataFrame) -> dict[str, float]:
    """Headline numbers over the whole table."""
    done = table[table["outcome"].isin(ANSWERED)]["total_s"].astype(float)
    lookups = int(table["cache"].isin(["hit", "miss"]).sum())
    return {
        "questions": float(len(table)),
        "p95 s": float(done.quantile(0.95)) if len(done) else float("nan"),
        "error rate": float((table["outcome"] == "error").mean()) if len(table) else float("nan"),
        "cache hit rate": float((table["cache"] == "hit").sum() / lookups) if lookups else float("nan"),
        "cost USD": float(table["cost_usd"].sum()),
    }


def tiers(table: pd.DataFrame) -> pd.DataFrame:
    """Per routing tier (fast, strong, cache): answers, their share, p50 total time and cost; empty without routing."""
    routed = table[(table["tier"] != "") & table["outcome"].isin(ANSWERED)]
    grouped = routed.groupby("tier")
    out = pd.DataFrame(
        {
            "answers": grouped.size(),
            "share": grouped.size() / max(len(routed), 1),
            "p50 total s": grouped["total_s"].median(),
            "cost (USD)": grouped["cost_usd"].sum(),
        }
    )
    out.index.name = "tier"
    return out
