"""What each metric means, and how two runs differ.

A metric's direction and unit follow from its name, so new metrics need no
registry: names ending in ``_ms`` (or holding "latency") are milliseconds,
``tokens_*`` are token counts, ``*failures``/``*errors``/``*_count`` are
counts, and all of these are better when lower; everything else is a
quality score in [0, 1], better when higher. A comparison lists
every (configuration, metric) of either run, including those only one side
has, and says separately which way a number moved (▲/▼) and whether that is
better or worse, since "up" means worse for latency. Numbers from different
datasets, splits or settings are not comparable, so the comparison warns and
names what differs; settings that only say where files live are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# The metric that ranks configurations and picks the worst queries.
PRIMARY_METRIC = {"retrieval": "ndcg@10", "answers": "correctness"}
# Display order; metrics not listed follow in alphabetical order.
METRIC_ORDER = {
    "retrieval": ("ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_p50_ms", "latency_p95_ms"),
    "answers": (
        "correctness",
        "citation_validity",
        "citation_precision",
        "groundedness",
        "abstention_accuracy",
        "ttft_p50_ms",
        "ttft_p95_ms",
        "total_p50_ms",
        "total_p95_ms",
        "tokens_in_mean",
        "tokens_out_mean",
    ),
}
# Where data and converted models live changes no result.
_LOCATION_SETTINGS = frozenset({"data_dir", "model_cache"})

Presence = Literal["both", "only_a", "only_b"]


def metric_group(metric: str) -> str:
    """What a metric measures, for units and plots: "latency" (ms), "tokens", "count" or "quality"."""
    if metric.endswith("_ms") or "latency" in metric:
        return "latency"
    if metric.startswith("tokens_") or metric.endswith("_tokens"):
        return "tokens"
    if metric.endswith(("failures", "errors", "_count")):
        return "count"
    return "quality"


def higher_is_better(metric: str) -> bool:
    """Quality metrics rise when things improve; time, tokens and failure counts fall."""
    return metric_group(metric) == "quality"


def ordered_metrics(kind: str, names: Iterable[str]) -> list[str]:
    names = set(names)
    known = METRIC_ORDER.get(kind, ())
    return [m for m in known if m in names] + sorted(names - set(known))


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    group = metric_group(metric)
    return f"{value:.3f}" if group == "quality" else f"{value:g}" if group == "count" else f"{value:.1f}"


@dataclass(frozen=True)
class Delta:
    """One metric of one configuration in runs A and B; ``delta`` is B − A when both have a value."""

    config: str
    metric: str
    a: float | None
    b: float | None
    delta: float | None
    higher_is_better: bool
    presence: Presence = "both"

    @property
    def improved(self) -> bool | None:
        """True if B is better than A, False if worse, None if equal or not comparable."""
        if not self.delta:
            return None
        return (self.delta > 0) == self.higher_is_better


def compare_runs(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Delta]:
    """Every (configuration, metric) of either run: A's configurations first, in A's order."""
    configs_a, configs_b = a.get("configs") or {}, b.get("configs") or {}
    kind = str(a.get("kind") or b.get("kind"))
    deltas: list[Delta] = []
    for config in [*configs_a, *(c for c in configs_b if c not in configs_a)]:
        ma = (configs_a.get(config) or {}).get("metrics") or {}
        mb = (configs_b.get(config) or {}).get("metrics") or {}
        for metric in ordered_metrics(kind, [*ma, *mb]):
            presence: Presence = (
                "both" if metric in ma and metric in mb else "only_a" if metric in ma else "only_b"
            )
            va, vb = _number(ma.get(metric)), _number(mb.get(metric))
            diff = vb - va if va is not None and vb is not None else None
            deltas.append(Delta(config, metric, va, vb, diff, higher_is_better(metric), presence))
    return deltas


def comparison_warnings(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """Why the two runs' numbers may not be comparable: kind, dataset, split, size, settings."""
    warnings: list[str] = []
    if a.get("kind") != b.get("kind"):
        warnings.append(f"different kinds of run: A is {a.get('kind')}, B is {b.get('kind')}")
    da, db = a.get("dataset") or {}, b.get("dataset") or {}
    differing = [k for k in ("name", "split", "queries", "documents") if da.get(k) != db.get(k)]
    if differing:
        warnings.append(
            "different datasets: A used "
            + _describe(da)
            + ", B used "
            + _describe(db)
            + f" (different {', '.join(differing)})"
        )
    sa, sb = a.get("settings") or {}, b.get("settings") or {}
    keys = sorted(k for k in set(sa) | set(sb) if k not in _LOCATION_SETTINGS and sa.get(k) != sb.get(k))
    if keys:
        changes = ", ".join(f"{k} ({_short(sa.get(k, '—'))} → {_short(sb.get(k, '—'))})" for k in keys)
        warnings.append(f"settings differ: {changes}")
    return warnings


def format_comparison(
    deltas: Sequence[Delta], warnings: Sequence[str] = (), labels: tuple[str, str] = ("A", "B")
) -> str:
    """A plain-text table, one block per configuration: ``ndcg@10  0.412 → 0.437  +0.025 ▲ better``."""
    lines = [f"warning: {w}" for w in warnings]
    if lines:
        lines.append("")
    lines.append(f"{labels[0]} → {labels[1]}")
    if not deltas:
        return "\n".join([*lines, "(no metrics in either run)"])
    by_config: dict[str, list[Delta]] = {}
    for d in deltas:
        by_config.setdefault(d.config, []).append(d)
    side = {"only_a": labels[0], "only_b": labels[1]}
    for config, rows in by_config.items():
        presences = {d.presence for d in rows}
        one_sided = len(presences) == 1 and rows[0].presence != "both"
        lines += ["", config + (f"  (only in {side[rows[0].presence]})" if one_sided else "")]
        cells = [_row(d, side) for d in rows]
        widths = [max(len(c[i]) for c in cells) for i in range(4)]
        for c in cells:
            left = f"  {c[0]:<{widths[0]}}  {c[1]:>{widths[1]}} → {c[2]:<{widths[2]}}"
            lines.append(f"{left}  {c[3]:>{widths[3]}} {c[4]}".rstrip())
    return "\n".join(lines)


def _row(d: Delta, side: Mapping[str, str]) -> tuple[str, str, str, str, str]:
    """metric, A, B, signed change, verdict."""
    va, vb = format_value(d.metric, d.a), format_value(d.metric, d.b)
    if d.presence == "only_a":
        return d.metric, va, "—", "", f"only in {side['only_a']}"
    if d.presence == "only_b":
        return d.metric, "—", vb, "", f"only in {side['only_b']}"
    if d.delta is None:
        return d.metric, va, vb, "", ""
    change = format_value(d.metric, abs(d.delta))
    if float(change) == 0:  # below the shown precision: float noise, not a change
        return d.metric, va, vb, "±0", "="
    sign, arrow = ("+", "▲") if d.delta > 0 else ("-", "▼")
    return d.metric, va, vb, sign + change, f"{arrow} {'better' if d.improved else 'worse'}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _describe(dataset: Mapping[str, Any]) -> str:
    size = f"{dataset.get('queries', '?')} queries, {dataset.get('documents', '?')} documents"
    return f"{dataset.get('name', '?')}/{dataset.get('split', '?')} ({size})"


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
