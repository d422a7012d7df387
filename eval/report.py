"""A run's report: plots, ``report.md`` and a self-contained ``report.html``.

The report is built once as a list of neutral blocks (heading, paragraph,
table, image…) and rendered twice, so the Markdown and the HTML can never
say different things. Every piece of text is treated as hostile, because
questions, titles and answers come from documents and from a model that read
them: HTML escapes everything including ``/`` (no ``http://`` survives
anywhere in the page), carries a Content-Security-Policy that forbids any
outside request, and embeds its images as data URIs; Markdown escapes raw
HTML and the punctuation that makes links and images. A missing metric is
"n/a" with a pointer to the configuration's notes; "best" is only marked when
configurations differ (two or more values, not all equal). The worst queries
are the lowest on the kind's primary metric (ndcg@10, correctness), unscored
ones last. Counts such as ``judge_failures`` are in the table but not plotted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval import plots
from eval.compare import PRIMARY_METRIC, format_value, higher_is_better, metric_group, ordered_metrics
from eval.report_render import Block, Cell, Code, Heading, Image, Items, Para, Table, to_html, to_markdown

# Settings worth a glance in the header; the full list closes the report.
_SUMMARY_SETTINGS = (
    "embedder",
    "reranker",
    "reranker_backend",
    "reranker_max_length",
    "rerank_fusion",
    "generator_backend",
    "generator_model",
    "top_k",
    "bm25_candidates",
    "dense_candidates",
    "bm25_weight",
    "dense_weight",
    "rrf_k",
    "rerank_candidates",
    "chunk_tokens",
    "chunk_overlap_tokens",
    "abstain_below",
    "max_prompt_tokens",
    "temperature",
)
# metric group -> (chart title, y label, values in [0, 1]); one bar chart each
_GROUPS = {
    "quality": ("Quality", "score", True),
    "latency": ("Latency", "ms", False),
    "tokens": ("Tokens", "tokens", False),
}


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    plots: tuple[Path, ...]


def write_report(run: Mapping[str, Any], folder: Path, worst: int = 10) -> ReportFiles:
    """Draw the plots and write ``report.md`` and ``report.html`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    kind = str(run.get("kind", ""))
    configs: Mapping[str, Mapping[str, Any]] = run.get("configs") or {}
    notes = _numbered_notes(configs)
    pngs = _draw(kind, configs, folder)
    blocks: list[Block] = [*_header(run)]
    if not configs:
        blocks.append(Para("This run has no configurations."))
    else:
        blocks += _metrics_section(kind, configs, notes)
        blocks += [Heading(2, "Plots"), *(Image(p.name, p.stem.replace("-", " ")) for p in pngs)]
        for name, config in configs.items():
            blocks += _worst_section(kind, name, config, worst)
    blocks += _extra_section(run.get("extra") or {})
    settings = run.get("settings") or {}
    if settings:
        rows = tuple((Cell(k), Cell(_plain(v))) for k, v in settings.items())
        blocks += [Heading(2, "All settings"), Table(("setting", "value"), rows)]
    md, page = folder / "report.md", folder / "report.html"
    md.write_text(to_markdown(blocks), encoding="utf-8")
    title = f"askdocs {kind} run {run.get('run_id', '')}"
    page.write_text(to_html(blocks, title=title, folder=folder), encoding="utf-8")
    return ReportFiles(md, page, tuple(pngs))


def _header(run: Mapping[str, Any]) -> list[Block]:
    dataset = run.get("dataset") or {}
    settings = run.get("settings") or {}
    facts = [
        f"kind: {run.get('kind', '?')}",
        f"dataset: {dataset.get('name', '?')}, split {dataset.get('split', '?')}",
    ]
    facts += [f"{k}: {_plain(v)}" for k, v in dataset.items() if k not in ("name", "split")]
    facts += [f"git revision: {run.get('git_revision', 'unknown')}", f"created: {run.get('created', '?')}"]
    summary = ", ".join(f"{k}={_plain(settings[k])}" for k in _SUMMARY_SETTINGS if k in settings)
    if summary:
        facts.append(f"settings: {summary}")
    return [Heading(1, f"Evaluation report: {run.get('run_id', '')}"), Items(tuple(facts))]


def _metrics_section(
    kind: str, configs: Mapping[str, Mapping[str, Any]], notes: dict[int, tuple[str, str]]
) -> list[Block]:
    names = list(configs)
    metrics = ordered_metrics(kind, {m for c in configs.values() for m in (c.get("metrics") or {})})
    rows = []
    for metric in metrics:
        values = [_number((configs[c].get("metrics") or {}).get(metric)) for c in names]
        best = _best(metric, values)
        cells = [Cell(metric)]
        for config, value in zip(names, values):
            ref = _note_for(notes, config, metric) if value is None else None
            text = format_value(metric, value) + (f" [{ref}]" if ref else "")
            cells.append(Cell(text, bold=best is not None and value == best))
        cells.append(Cell("higher" if higher_is_better(metric) else "lower"))
        rows.append(tuple(cells))
    blocks: list[Block] = [
        Heading(2, "Configurations"),
        Items(tuple(f"{n}: {configs[n].get('description') or '(no description)'}" for n in names)),
    ]
    blocks += (
        [Heading(2, "Metrics"), Table(("metric", *names, "better"), tuple(rows))]
        if rows
        else [Heading(2, "Metrics"), Para("No metrics were recorded.")]
    )
    if notes:
        blocks += [Heading(3, "Notes"), Items(tuple(f"[{n}] {c}: {t}" for n, (c, t) in notes.items()))]
    return blocks


def _worst_section(kind: str, name: str, config: Mapping[str, Any], count: int) -> list[Block]:
    primary = PRIMARY_METRIC.get(kind, "")
    per_query = {q: row for q, row in (config.get("per_query") or {}).items() if isinstance(row, Mapping)}
    blocks: list[Block] = [Heading(2, f"Worst queries: {name} (lowest {primary})")]
    if not per_query:
        return [*blocks, Para("No per-query results.")]
    for qid, q in worst_queries(per_query, primary, count):
        blocks.append(Heading(3, f"{qid}: {primary} {format_value(primary, _number(q.get(primary)))}"))
        blocks.append(Para(f"Question: {q.get('question', '')}"))
        scores = [
            f"{k} {format_value(k, float(v))}"
            for k, v in q.items()
            if k != primary and isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        if scores:
            blocks.append(Para("Scores: " + ", ".join(scores)))
        retrieved = [r for r in q.get("retrieved") or [] if isinstance(r, Mapping)]
        if retrieved:
            rows = tuple(_hit_row(rank, hit) for rank, hit in enumerate(retrieved, 1))
            blocks.append(Table(("rank", "id", "title", "relevant", "score"), rows))
        seen = {str(r.get("id")) for r in retrieved}
        missed = [str(i) for i in q.get("relevant") or [] if str(i) not in seen]
        if missed:
            blocks.append(Para("Relevant but not retrieved: " + ", ".join(missed)))
        for key, label in (("answer", "Answer"), ("gold", "Gold"), ("cited", "Cited")):
            if key in q:
                blocks.append(Para(f"{label}: {_plain(q[key])}", limit=800))
    return blocks


def _hit_row(rank: int, hit: Mapping[str, Any]) -> tuple[Cell, ...]:
    return (
        Cell(str(rank)),
        Cell(_plain(hit.get("id"))),
        Cell(_plain(hit.get("title")), limit=120),
        Cell("✓" if hit.get("relevant") else "✗"),
        Cell(format_value("score", _number(hit.get("score")))),
    )


def worst_queries(
    per_query: Mapping[str, Mapping[str, Any]], metric: str, count: int = 10
) -> list[tuple[str, Mapping[str, Any]]]:
    """The ``count`` lowest-scoring queries on ``metric``, ties by id; queries without a score come last."""

    def key(item: tuple[str, Mapping[str, Any]]) -> tuple[bool, float, str]:
        value = _number(item[1].get(metric))
        return value is None, value if value is not None else 0.0, item[0]

    return sorted(per_query.items(), key=key)[:count]


def _draw(kind: str, configs: Mapping[str, Mapping[str, Any]], folder: Path) -> list[Path]:
    metrics = {
        c: {m: _number(v) for m, v in (cfg.get("metrics") or {}).items()} for c, cfg in configs.items()
    }
    names = ordered_metrics(kind, {m for ms in metrics.values() for m in ms})
    drawn: list[Path | None] = []
    for group, (title, unit, unit_interval) in _GROUPS.items():
        chosen = [m for m in names if metric_group(m) == group]
        drawn.append(
            plots.metric_bars(
                folder / f"metrics-{group}.png",
                metrics,
                chosen,
                f"{title} by configuration",
                unit,
                unit_interval,
            )
        )
    if kind == "retrieval":
        curves = {c: cfg.get("recall_curve") or {} for c, cfg in configs.items()}
        drawn.append(plots.recall_curves(folder / "recall-at-k.png", curves))
    panels: dict[str, dict[str, list]] = {}
    for c, cfg in configs.items():
        lat = cfg.get("latencies_ms") or []
        for series, values in lat.items() if isinstance(lat, Mapping) else [("latency", lat)]:
            panels.setdefault(str(series), {})[c] = [_number(v) for v in values or []]
    drawn.append(plots.latency_distributions(folder / "latency-distribution.png", panels))
    return [p for p in drawn if p is not None]


def _extra_section(extra: Mapping[str, Any]) -> list[Block]:
    """Free-form extras: a list of records or a flat object becomes a table, anything else JSON."""
    blocks: list[Block] = []
    for key, value in extra.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            blocks.append(Para(f"{key}: {_plain(value)}"))
            continue
        blocks.append(Heading(3, str(key)))
        if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
            columns = list(dict.fromkeys(k for r in value for k in r))
            rows = tuple(tuple(Cell(_plain(r.get(c, ""))) for c in columns) for r in value)
            blocks.append(Table(tuple(map(str, columns)), rows))
        elif isinstance(value, Mapping) and not any(isinstance(v, (Mapping, list)) for v in value.values()):
            blocks.append(Table(("", ""), tuple((Cell(str(k)), Cell(_plain(v))) for k, v in value.items())))
        else:
            blocks.append(Code(json.dumps(value, indent=1, ensure_ascii=False, default=str)))
    return [Heading(2, "Extra"), *blocks] if blocks else []


def _numbered_notes(configs: Mapping[str, Mapping[str, Any]]) -> dict[int, tuple[str, str]]:
    notes = [(c, str(n)) for c, cfg in configs.items() for n in cfg.get("notes") or []]
    return {i: note for i, note in enumerate(notes, 1)}


def _note_for(notes: dict[int, tuple[str, str]], config: str, metric: str) -> int | None:
    """The note that explains a missing metric: the first naming it, else the configuration's first."""
    own = [(n, text) for n, (c, text) in notes.items() if c == config]
    # a whole name: a note on judge_correctness does not explain correctness
    named = re.compile(rf"(?<![\w@]){re.escape(metric)}(?![\w@])")
    return next((n for n, text in own if named.search(text)), own[0][0] if own else None)


def _best(metric: str, values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if len(set(present)) < 2:  # one value, or all equal: nothing stands out
        return None
    return max(present) if higher_is_better(metric) else min(present)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)  # a per-query correctness may be recorded as true/false
    return float(value) if isinstance(value, (int, float)) and value == value else None


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return "" if value is None else str(value)
