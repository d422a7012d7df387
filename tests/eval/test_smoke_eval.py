"""The smoke set through the real retrieval evaluation: a regression guard that runs in CI.

The floors are this commit's measured values (docs/evaluation.md) rounded down, so a change that makes
retrieval of the sample documents worse fails here before anyone reads a report.
"""

from __future__ import annotations

import json

import pytest

from eval.datasets.sample_smoke import build_sample_smoke
from eval.runner import run_retrieval
from tests.conftest import make_settings

pytestmark = pytest.mark.integration


def test_the_smoke_set_keeps_its_measured_quality(tmp_path, embedder):
    settings = make_settings(tmp_path / "data")
    build_sample_smoke(tmp_path / "smoke", settings, embedder.count_tokens)
    folder = run_retrieval(
        tmp_path / "smoke",
        settings,
        configs=["bm25", "dense", "default"],
        out=tmp_path / "run",
        embedder=embedder,
    )
    metrics = json.loads((folder / "metrics.json").read_text())
    for name in ("bm25", "dense", "default"):
        assert metrics[name]["recall@10"] == 1.0, name  # every gold chunk within the first ten
    assert metrics["default"]["ndcg@10"] >= 0.93
    assert metrics["default"]["ndcg@10"] > metrics["dense"]["ndcg@10"]  # BM25 earns its place on exact names
    run = json.loads((folder / "run.json").read_text())
    q2 = run["configs"]["default"]["per_query"]["q2"]  # itemgetter(): a name MiniLM does not know
    assert q2["retrieved"][0]["relevant"], q2["retrieved"][:3]
