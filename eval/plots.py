"""The report's charts, drawn on ``matplotlib.figure.Figure`` objects with an Agg canvas.

Nothing here touches pyplot: pyplot keeps global state (the current figure,
the backend) that is not safe inside the Streamlit app's threads, while a
Figure with its own ``FigureCanvasAgg`` is private to the call that made it.
For the same reason latency is drawn as points plus a hand-made box
(quartiles, median, p95): ``Axes.boxplot`` reads every rcParam, which makes
matplotlib resolve its global backend through pyplot. Each function returns
the PNG it wrote, or None when there is nothing to draw, and treats a missing
value as missing (an "n/a" bar), never as zero. Labels escape ``$`` so that
a name cannot switch matplotlib into mathtext.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_DPI = 110


def metric_bars(
    path: Path,
    values: Mapping[str, Mapping[str, float | None]],
    metrics: Sequence[str],
    title: str,
    ylabel: str,
    unit_interval: bool = False,
) -> Path | None:
    """Grouped bars: one group per metric, one bar per configuration (``values[config][metric]``)."""
    configs = list(values)
    if not configs or not metrics:
        return None
    fig = _figure(width=max(6.0, 1.3 * len(metrics) + 2), height=4.2)
    ax = fig.subplots()
    width = 0.8 / len(configs)
    x = np.arange(len(metrics))
    for i, config in enumerate(configs):
        raw = [values[config].get(m) for m in metrics]
        heights = [v if v is not None else 0.0 for v in raw]
        bars = ax.bar(x - 0.4 + width * (i + 0.5), heights, width, label=_t(config), color=f"C{i % 10}")
        labels = ["n/a" if v is None else _bar_label(v, unit_interval) for v in raw]
        ax.bar_label(bars, labels=labels, fontsize=7, padding=2, rotation=90 if len(configs) > 3 else 0)
    ax.set_xticks(x, [_t(m) for m in metrics])
    ax.set_ylabel(_t(ylabel))
    ax.set_title(_t(title))
    if unit_interval:
        ax.set_ylim(0, 1.18)  # room for the value labels above a perfect score
    else:
        ax.margins(y=0.2)
    _legend(ax, len(configs))
    return _save(fig, path)


def recall_curves(path: Path, curves: Mapping[str, Mapping[str, float | None]]) -> Path | None:
    """Recall@k against k (log scale), one line per configuration; keys are k as strings."""
    lines = {}
    for config, curve in curves.items():
        points = sorted((int(k), v) for k, v in (curve or {}).items() if str(k).isdigit() and v is not None)
        if points:
            lines[config] = points
    if not lines:
        return None
    fig = _figure(width=6.5, height=4.2)
    ax = fig.subplots()
    ks: set[int] = set()
    for i, (config, points) in enumerate(lines.items()):
        ks_, recalls = zip(*points)
        ax.plot(ks_, recalls, marker="o", label=_t(config), color=f"C{i % 10}")
        ks.update(k for k, _ in points)
    if max(ks) > 1:
        ax.set_xscale("log")
    ax.set_xticks(sorted(ks), [str(k) for k in sorted(ks)])
    ax.minorticks_off()
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("k (documents retrieved)")
    ax.set_ylabel("recall@k")
    ax.set_title("Recall at k")
    ax.grid(alpha=0.3)
    _legend(ax, len(lines))
    return _save(fig, path)


def latency_distributions(
    path: Path, panels: Mapping[str, Mapping[str, Sequence[float | None]]]
) -> Path | None:
    """One panel per series (``panels[series][config]`` in ms): points, quartile box, median, p95 (◆)."""
    panels = {
        name: {c: [float(v) for v in vs if v is not None] for c, vs in series.items()}
        for name, series in panels.items()
    }
    panels = {name: series for name, series in panels.items() if any(series.values())}
    if not panels:
        return None
    configs = list(dict.fromkeys(c for series in panels.values() for c in series))
    fig = _figure(width=5.5 * len(panels), height=1.2 + 0.6 * len(configs))
    rng = np.random.default_rng(0)  # the same jitter every time, so reports diff cleanly
    for ax, (name, series) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels.items()):
        for row, config in enumerate(configs):
            ms = np.asarray(series.get(config) or [], dtype=float)
            if ms.size == 0:
                ax.text(0.02, row, "no data", va="center", transform=ax.get_yaxis_transform(), fontsize=8)
                continue
            q1, q2, q3, p95 = np.percentile(ms, [25, 50, 75, 95])
            color = f"C{configs.index(config) % 10}"
            ax.scatter(ms, row + rng.uniform(-0.15, 0.15, ms.size), s=8, alpha=0.35, color=color)
            ax.barh(row, q3 - q1, left=q1, height=0.5, color=color, alpha=0.25, edgecolor=color)
            ax.vlines(q2, row - 0.25, row + 0.25, color=color, linewidth=2)
            ax.plot([p95], [row], marker="D", color=color, markersize=5)
        values = np.concatenate([np.asarray(v, dtype=float) for v in series.values() if v])
        if values.min() > 0 and values.max() / values.min() > 50:
            ax.set_xscale("log")
        else:
            ax.set_xlim(left=0)  # a time axis from zero shows ratios truthfully
        ax.set_yticks(range(len(configs)), [_t(c) for c in configs])
        ax.set_ylim(len(configs) - 0.5, -0.5)  # first configuration on top
        ax.set_xlabel("milliseconds")
        ax.set_title(_t(f"{name} (box: quartiles, bar: median, ◆: p95)"), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _legend(ax, count: int) -> None:  # noqa: ANN001 - matplotlib Axes
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(count, 4), frameon=False, fontsize=8)


def _save(fig: Figure, path: Path) -> Path:
    # No "Software" text chunk: the report embeds this file and should name no outside address.
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _t(text: str) -> str:
    return str(text).replace("$", r"\$")


def _bar_label(value: float, unit_interval: bool) -> str:
    if unit_interval:
        return f"{value:.3f}"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"
