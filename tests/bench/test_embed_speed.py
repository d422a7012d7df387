"""The small versions of the speed benchmarks run in CI, so that they cannot rot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def rows(report: dict) -> dict[tuple[str, str], float]:
    return {(r["section"], r["metric"]): r["value"] for r in report["rows"]}


def test_quick_embedding_benchmark(tmp_path: Path) -> None:
    from bench import embed_speed

    out = tmp_path / "embed.json"
    embed_speed.main(["--quick", "--out", str(out), "--model-cache", str(MODEL_CACHE)])
    report = json.loads(out.read_text())
    variants = report["speed"]["variants"]
    assert set(variants) == {"torch", "onnx-fp32", "onnx-int8", "onnx-int8, no bucketing"}
    assert report["speed"]["chunks"] >= 20
    for name, row in variants.items():
        assert math.isfinite(row["chunks_per_s"]) and row["chunks_per_s"] > 0, name
        assert len(row["ratios"]) == report["profile"]["rounds"]
    assert variants["onnx-fp32"]["cosine_min"] > 0.9999  # the same vectors as torch
    # close, not equal: the mean over realistic chunks, which holds on AVX2 as with VNNI
    # (INT8_MEAN_FLOOR in tests/retrieval/test_embedder.py says why)
    assert variants["onnx-int8"]["cosine_mean"] > 0.98
    quality = report["quality"]["test"]
    for config in ("dense", "default"):
        assert 0 < quality["torch"][config] <= 1
        assert abs(quality["onnx-int8"][config] - quality["torch"][config]) <= 0.05  # 4 queries: coarse
    assert ("embed quality", "test nDCG@10 dense: onnx-int8 - torch") in rows(report)
