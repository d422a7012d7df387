"""The small version of the generation benchmark (SmolLM2, one prompt per backend) runs in CI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quick_generation_benchmark(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] comes with requirements-dev.txt")
    from bench import generation

    out = tmp_path / "generation.json"
    generation.main(["--quick", "--out", str(out), "--model-cache", str(MODEL_CACHE)])
    report = json.loads(out.read_text())
    values = {(r["section"], r["metric"]): r["value"] for r in report["rows"]}
    backends = ("transformers", "llama.cpp in-process", "llama.cpp server")
    assert set(report["runs"]) == set(backends)
    for backend in backends:
        ttft = values[("generate ~300", f"{backend}: time to first token p50")]
        assert math.isfinite(ttft) and ttft > 0
        assert all(run["tokens"] > 0 for run in report["runs"][backend]["300"])  # every backend answered
    for backend in backends[1:]:
        assert values[("generate ~300", f"TTFT ratio {backend} / transformers")] > 0
    assert 200 <= values[("generate ~300", "prompt length (mean of 1)")] <= 300
