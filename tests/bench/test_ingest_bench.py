"""The CI-sized run of ``bench.ingest``: 3 manual pages and a 2-page PDF, sequential then pipelined.

Timings are printed, never asserted (the machine is shared); what must hold is that both modes ingest
the same pages into the same chunks with nothing refused, that every rate and share is a finite
positive number, and that the time accounting adds up to the wall time.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from bench import ingest as bench_ingest
from tests.conftest import MODEL_CACHE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench-ingest") / "ingest.json"
    bench_ingest.main(["--quick", "--out", str(out), "--model-cache", str(MODEL_CACHE)])
    return json.loads(out.read_text())


def rows(result: dict, section: str) -> dict[str, float]:
    return {r["metric"]: r["value"] for r in result["rows"] if r["section"] == section}


def test_both_modes_ingest_the_same_real_documents(result: dict) -> None:
    assert result["documents"]["html_pages"] == 3 and result["documents"]["manual_pages"] > 400
    seq, pipe = result["results"]["sequential"][0], result["results"]["pipelined"][0]
    assert seq["refused"] == pipe["refused"] == 0
    assert seq["pages"] == pipe["pages"] == 3 + 2  # an HTML file is one page; the PDF has two
    assert seq["chunks"] == pipe["chunks"] > seq["pdf_chunks"] > 0
    assert rows(result, "compare")["same pages and chunks in every run"] == 1


def test_every_rate_is_finite_and_the_time_adds_up(result: dict) -> None:
    for mode in ("sequential", "pipelined"):
        found = rows(result, mode)
        for metric in (
            "pages/s parsed (pages / time in parse)",
            "chunks/s embedded (chunks / time in embed)",
            "end-to-end (Ingestor.ingest_paths)",
            "CPU: this process (all threads, torch's included)",
        ):
            assert math.isfinite(found[metric]) and found[metric] > 0, (mode, metric)
        main = sum(v for m, v in found.items() if m.startswith("  main thread"))
        wall = found["end-to-end (Ingestor.ingest_paths)"] * 60
        assert main == pytest.approx(
            wall, rel=0.02
        )  # the main thread's stages and "other" make the wall time
        assert any(m.startswith("CPU: core 1 busy") for m in found)
    helper = [m for m in rows(result, "pipelined") if m.startswith("  helper thread: in parse")]
    assert helper and not [m for m in rows(result, "sequential") if m.startswith("  helper thread")]
    speed_up = rows(result, "compare")["speed-up: sequential wall / pipelined wall (summed over rounds)"]
    assert math.isfinite(speed_up) and speed_up > 0
    [threads] = [v for m, v in rows(result, "setup").items() if m.startswith("torch threads")]
    assert threads >= 1


def test_spread_takes_evenly_spaced_items() -> None:
    items = [Path(str(i)) for i in range(10)]
    assert bench_ingest.spread(items, 3) == [Path("0"), Path("3"), Path("6")]
    assert bench_ingest.spread(items, 50) == items


def test_the_stage_clock_tells_threads_apart() -> None:
    clock = bench_ingest.StageClock()
    work = clock.wrap(lambda: None, "parse")
    work()
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert {thread for _, thread in clock.seconds} == {"main", "helper"}
