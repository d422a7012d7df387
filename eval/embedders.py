"""Comparing embedders on one BEIR dataset: retrieval quality against indexing speed and memory.

Each embedder is evaluated by ``python -m eval retrieval`` in a child process of its own, so the
peak memory measured (the child's maximum resident set, from ``os.wait4``) is that model's and
nothing else's, and one model's weights are gone before the next loads. Indexing speed is the
passages embedded and stored per second when its index was built; an index reused from the
cache keeps the time of the build that made it. Dense-only and the default hybrid are scored,
since an embedder's quality shows in both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from askdocs.settings import Settings
from eval.answer_eval import Progress
from eval.runs import new_run, new_run_dir

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_EMBEDDERS = ("pkg:all-minilm-l6-v2", "pkg:all-mpnet-base-v2", "pkg:wordllama-l2-supercat")
CONFIGS = ("dense", "default")


def _short(spec: str) -> str:
    return spec.removeprefix("pkg:").rsplit("/", 1)[-1]


def measure_embedder(source: Path, spec: str, settings: Settings, split: str, out: Path) -> dict:
    """One child evaluation of ``spec``; its run.json plus the child's wall time and peak memory."""
    env = {**os.environ, "ASKDOCS_EMBEDDER": spec, "ASKDOCS_DATA_DIR": str(settings.data_dir)}
    args = [
        sys.executable,
        "-m",
        "eval",
        "retrieval",
        "--beir",
        str(source),
        "--split",
        split,
        "--configs",
        ",".join(CONFIGS),
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    with open(out.with_suffix(".log"), "w", encoding="utf-8") as log:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen so it won't wait again
    if child.returncode != 0:
        tail = out.with_suffix(".log").read_text(encoding="utf-8")[-400:]
        raise RuntimeError(f"evaluating embedder {spec} failed (exit {child.returncode}): {tail}")
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    run["measured"] = {"wall_seconds": time.perf_counter() - started, "peak_rss_mb": usage.ru_maxrss / 1024}
    return run


def compare_embedders(
    source: Path,
    settings: Settings,
    specs: Sequence[str] = OFFLINE_EMBEDDERS,
    split: str = "test",
    out: Path | None = None,
    progress: Progress | None = None,
) -> tuple[dict, Path]:
    """Evaluate every embedder in ``specs``; the combined run (not yet saved) and its folder."""
    from eval.runner import runs_folder

    folder = out or new_run_dir(runs_folder(settings), "retrieval", f"embedders-{Path(source).name}")
    folder.mkdir(parents=True, exist_ok=True)
    table, combined = [], None
    for done, spec in enumerate(specs):
        if progress:
            progress("embedders", done, len(specs))
        child = measure_embedder(Path(source), spec, settings, split, folder / _short(spec))
        if combined is None:
            combined = new_run("retrieval", folder, settings, child["dataset"])
        passages = child["dataset"]["documents"]
        build = child["extra"]["index"]["build_seconds"]
        for name in CONFIGS:
            combined["configs"][f"{name} · {_short(spec)}"] = child["configs"][name]
        table.append(
            {
                "embedder": spec,
                "ndcg@10 dense": round(child["configs"]["dense"]["metrics"]["ndcg@10"], 4),
                "ndcg@10 hybrid": round(child["configs"]["default"]["metrics"]["ndcg@10"], 4),
                "index passages/s": round(passages / build, 1) if build else None,
                "peak memory MB": round(child["measured"]["peak_rss_mb"]),
                "query p50 ms (dense)": round(child["configs"]["dense"]["metrics"]["latency_p50_ms"], 1),
            }
        )
    if combined is None:
        raise ValueError("no embedder to compare")
    if progress:
        progress("embedders", len(specs), len(specs))
    combined["extra"]["embedders"] = table
    draw_tradeoff(table, folder / "embedders.png")
    return combined, folder


def draw_tradeoff(table: Sequence[dict], path: Path) -> None:
    """nDCG@10 against indexing speed, one point per embedder, its memory in the label."""
    figure = Figure(figsize=(6.5, 4.2), dpi=110)
    axes = figure.subplots()
    for row in table:
        x, y = row["index passages/s"] or 0.0, row["ndcg@10 dense"]
        axes.scatter([x], [y], s=40)
        axes.annotate(
            f"{_short(row['embedder'])}\n{row['peak memory MB']} MB",
            (x, y),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    axes.set_xscale("log")
    axes.set_xlabel("indexing speed (passages/s, log scale)")
    axes.set_ylabel("nDCG@10, dense alone")
    axes.set_title("Embedders: quality against indexing speed")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
