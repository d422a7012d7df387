"""Small measuring helpers shared by the retrieval benchmarks (``bench.peer``, ``bench.scale``)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from askdocs.machine import cpu_line


def percentiles(latencies_ms: Iterable[float]) -> dict[str, float]:
    """p50 and p95 (numpy's "linear" method, as ``eval.metrics``) and the count."""
    values = np.asarray(list(latencies_ms), dtype=float)
    if values.size == 0:
        raise ValueError("no latencies")
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "count": int(values.size)}


def rss_mb() -> dict[str, float]:
    """This process's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB
    return {"rss_mb": round(fields.get("VmRSS", 0.0), 1), "peak_rss_mb": round(fields.get("VmHWM", 0.0), 1)}


def load_average() -> str:
    """``uptime``'s load averages: the machine is shared, so every measurement carries them."""
    return " ".join(os.getloadavg().__repr__().strip("()").split(", "))


def machine() -> dict[str, Any]:
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.strip()
    except OSError:
        revision = ""
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "cpu": cpu_line(),
        "load_average": load_average(),
        "git": revision,
    }
