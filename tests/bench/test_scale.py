"""bench.scale's CI version: tiny synthetic collections through the real store, BM25, embedder and Ingestor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import scale
from tests.conftest import MODEL_CACHE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_synthetic_corpus_is_deterministic_and_topical():
    import numpy as np

    anchors = scale.Anchors(
        ("sorting lists with key functions", "ip addresses and networks"), np.eye(2, 4, dtype=np.float32)
    )
    first = list(scale.SyntheticCorpus(anchors, 30).batches(batch=7))
    again = list(scale.SyntheticCorpus(anchors, 30).batches(batch=7))
    chunks = [c for part, _ in first for c in part]
    vectors = np.concatenate([v for _, v in first])
    assert [c.text for c in chunks] == [c.text for part, _ in again for c in part]
    assert len(chunks) == 30 and len({c.chunk_id for c in chunks}) == 30
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # each vector stays near its anchor (cosine ≈ 0.85), far from the other one
    assert (vectors.max(axis=1) > 0.6).all()


def test_quick_run_reports_latency_memory_and_a_searchable_new_document(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ASKDOCS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASKDOCS_MODEL_CACHE", str(MODEL_CACHE))
    out = tmp_path / "scale.json"
    assert scale.main(["--quick", "--out", str(out), "--workdir", str(tmp_path)]) == 0
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert [r["size"] for r in rows] == [200, 1000]
    for row in rows:
        assert row["chunks"] == row["size"] + 1  # the corpus plus the added document's one chunk
        latency = row["latency_ms"]
        assert latency["count"] == report["queries"] == 12
        assert 0 < latency["p50"] <= latency["p95"] and math.isfinite(latency["p95"])
        assert {"bm25", "embed_query", "dense", "fuse"} <= set(row["stage_p50_ms"])
        assert 0 < row["rss_serving_mb"] <= row["peak_rss_mb"]
        assert row["ingest_status"] == "ingested" and row["add_one_found"] is True
        assert 0 <= row["bm25_rebuild_s"] <= row["add_one_searchable_s"]
        breakdown = row["rebuild_breakdown_s"]
        assert breakdown["refs"] == row["chunks"] and breakdown["read_refs"] >= 0
    assert "| 1,001 |" in scale.table(rows)
