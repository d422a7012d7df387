"""The quick rerank-latency benchmark runs in CI, so that it cannot rot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quick_rerank_benchmark(tmp_path: Path) -> None:
    from bench import rerank_speed

    out = tmp_path / "rerank.json"
    rerank_speed.main(["--quick", "--out", str(out), "--model-cache", str(MODEL_CACHE)])
    report = json.loads(out.read_text())
    speed = report["speed"]
    assert "stand-in" in report["model"]  # the output says the weights are untrained
    assert speed["queries"] == 3 and speed["candidates"] == 20
    assert set(speed["variants"]) == {
        f"{k}-{n}" for k in ("torch", "onnx-fp32", "onnx-int8") for n in (256, 128)
    }
    for name, row in speed["variants"].items():
        for field in ("p50_ms", "p95_ms", "ratio_to_baseline"):
            assert math.isfinite(row[field]) and row[field] > 0, (name, field)
        assert row["p95_ms"] >= row["p50_ms"]
        assert len(row["ratios"]) == report["profile"]["rounds"]
        assert -1 <= row["spearman_mean"] <= 1 and 0 <= row["top5_overlap_mean"] <= 1
    assert speed["variants"]["torch-256"]["ratio_to_baseline"] == 1
    fp32 = speed["variants"]["onnx-fp32-256"]  # the same model as the baseline, on another runtime
    assert fp32["max_score_diff"] < 1e-4 and fp32["top5_overlap_mean"] == 1
