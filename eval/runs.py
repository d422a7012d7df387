"""Evaluation runs on disk: one folder per run, ``run.json`` as the contract.

A run lives in ``RUNS_DIR/<run_id>/`` next to its report files. The run id
starts with the UTC start time (``20261122-104512-retrieval-python-faq``) so
folder names sort by age; a clash within the same second gets ``-2``, ``-3``…
and the folder is created with ``exist_ok=False``, so two runners can never
share one. ``run.json`` is plain JSON rather than a pickled object so that
old runs stay readable whatever the code becomes; it is written to a temp file
and swapped in with ``os.replace``, so a crash leaves the old file or the new
one, never half of one. NaN and infinity are stored as ``null`` (strict JSON
readers reject them), which the reports show as "n/a".

Provenance (git revision, settings without credentials) is in
``eval/provenance.py``; comparing two runs, and what each metric means
(direction, unit), in ``eval/compare.py``. Both are re-exported here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel

from eval.compare import (
    PRIMARY_METRIC,
    Delta,
    compare_runs,
    comparison_warnings,
    format_comparison,
    format_value,
    higher_is_better,
    metric_group,
    ordered_metrics,
)
from eval.provenance import git_revision, public_settings

# Comparison and provenance are re-exported: ``eval.runs`` is the one import for working with runs.
__all__ = [
    "KINDS",
    "PRIMARY_METRIC",
    "RUN_FILE",
    "Delta",
    "RunError",
    "RunSummary",
    "compare_runs",
    "comparison_warnings",
    "format_comparison",
    "format_value",
    "git_revision",
    "higher_is_better",
    "list_runs",
    "load_run",
    "metric_group",
    "new_run",
    "new_run_dir",
    "ordered_metrics",
    "public_settings",
    "save_run",
]

log = logging.getLogger(__name__)

KINDS = ("retrieval", "answers")
RUN_FILE = "run.json"


class RunError(ValueError):
    """A run folder or ``run.json`` that cannot be used, with the reason."""


@dataclass(frozen=True)
class RunSummary:
    """One line of a run listing: enough to choose a run to open or compare."""

    run_id: str
    kind: str
    created: str
    dataset: str
    split: str
    git_revision: str
    configs: tuple[str, ...]
    # (config, value of the kind's primary metric), in the run's order
    headline: tuple[tuple[str, float | None], ...]
    path: Path

    def __str__(self) -> str:
        """One line for a listing: id, dataset, each configuration's primary metric, revision."""
        metric = PRIMARY_METRIC.get(self.kind, "")
        scores = ", ".join(f"{c} {format_value(metric, v)}" for c, v in self.headline) or "no configurations"
        commit, dirty = self.git_revision.removesuffix("-dirty"), self.git_revision.endswith("-dirty")
        rev = commit[:12] + ("-dirty" if dirty else "")
        return f"{self.run_id}  {self.dataset}/{self.split}  {metric}: {scores}  (git {rev})"


def new_run_dir(runs_dir: Path, kind: str, dataset_name: str, now: datetime | None = None) -> Path:
    """Create and return an empty, uniquely named folder for a new run."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^a-z0-9]+", "-", dataset_name.lower()).strip("-")[:48] or "dataset"
    base = f"{stamp}-{kind}-{slug}"
    for n in range(1, 1000):
        folder = runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise RunError(f"too many runs named {base} in {runs_dir}")


def new_run(
    kind: str,
    folder: Path,
    settings: BaseModel | Mapping[str, Any],
    dataset: Mapping[str, Any],
    repo_root: Path | None = None,
) -> dict[str, Any]:
    """The top of a ``run.json`` for a run in ``folder``, with no configurations yet."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return {
        "kind": kind,
        "run_id": Path(folder).name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(repo_root or Path(__file__).resolve().parents[1]),
        "settings": public_settings(settings),
        "dataset": dict(dataset),
        "configs": {},
        "extra": {},
    }


def save_run(run: Mapping[str, Any], folder: Path) -> Path:
    """Write ``folder/run.json`` atomically and return its path."""
    _check(run, where=str(folder))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_jsonable(run), indent=1, ensure_ascii=False, allow_nan=False)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".run-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / RUN_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / RUN_FILE


def load_run(path_or_id: str | Path, runs_dir: Path | None = None) -> dict[str, Any]:
    """A run from its folder or ``run.json``, or by id (or "latest") under ``runs_dir``."""
    path = Path(path_or_id)
    if runs_dir is not None:
        if str(path_or_id) == "latest":
            newest = list_runs(runs_dir)
            if not newest:
                raise RunError(f"no runs in {runs_dir}")
            path = newest[0].path
        elif (Path(runs_dir) / str(path_or_id)).exists():
            path = Path(runs_dir) / str(path_or_id)
    if path.is_dir():
        path = path / RUN_FILE
    if not path.is_file():
        raise RunError(f"no run at {path_or_id!s}" + (f" (looked in {runs_dir})" if runs_dir else ""))
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(f"{path}: unreadable run file: {e}") from e
    _check(run, where=str(path))
    return run


def list_runs(runs_dir: Path, skipped: list[str] | None = None) -> list[RunSummary]:
    """Every readable run, newest first; unreadable folders are logged (and noted in ``skipped``)."""
    runs_dir = Path(runs_dir)
    found: list[tuple[tuple[str, int], RunSummary]] = []
    for folder in sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        if not (folder / RUN_FILE).exists():
            continue  # a run still going (run.json is written last) or one that failed before it
        try:
            run = load_run(folder)
            mtime = (folder / RUN_FILE).stat().st_mtime_ns
        except (RunError, OSError) as e:
            log.warning("skipping run folder %s: %s", folder, e)
            if skipped is not None:
                skipped.append(f"{folder.name}: {e}")
            continue
        found.append(((str(run.get("created", "")), mtime), _summary(run, folder)))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [summary for _, summary in found]


def _check(run: Any, where: str) -> None:
    """The shape every reader relies on; the rest of the schema is optional."""
    if not isinstance(run, Mapping):
        raise RunError(f"{where}: a run must be a JSON object")
    if run.get("kind") not in KINDS:
        raise RunError(f"{where}: 'kind' must be one of {KINDS}, not {run.get('kind')!r}")
    for part in ("configs", "dataset", "settings", "extra"):
        if not isinstance(run.get(part, {}), Mapping):
            raise RunError(f"{where}: {part!r} must be an object")
    for name, config in run.get("configs", {}).items():
        if not isinstance(config, Mapping) or not isinstance(config.get("metrics", {}), Mapping):
            raise RunError(f"{where}: configuration {name!r} must be an object with a 'metrics' object")


def _summary(run: Mapping[str, Any], folder: Path) -> RunSummary:
    dataset = run.get("dataset") or {}
    configs = run.get("configs") or {}
    primary = PRIMARY_METRIC[run["kind"]]
    return RunSummary(
        run_id=folder.name,  # what load_run takes, even if run.json says otherwise
        kind=run["kind"],
        created=str(run.get("created", "")),
        dataset=str(dataset.get("name", "")),
        split=str(dataset.get("split", "")),
        git_revision=str(run.get("git_revision", "unknown")),
        configs=tuple(configs),
        headline=tuple((name, (c.get("metrics") or {}).get(primary)) for name, c in configs.items()),
        path=folder,
    )


def _jsonable(value: Any) -> Any:
    """Plain JSON types: NaN/inf become None, paths strings, numpy scalars Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if callable(getattr(value, "tolist", None)):  # numpy scalars and arrays, without importing numpy
        return _jsonable(value.tolist())
    raise TypeError(f"cannot store {type(value).__name__} in run.json")
