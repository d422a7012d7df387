"""bench.peer's CI version: askdocs's hybrid against LangChain's EnsembleRetriever on a slice of the FAQ test split."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import peer
from tests.conftest import MODEL_CACHE

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_padding_replicates_distractors_only_with_nearby_vectors():
    vectors = np.eye(3, 8, dtype=np.float32)
    corpus = peer.Corpus(
        ("faq1", "lib1", "lib2"),
        ("answer text here", "alpha beta gamma delta " * 5, "one two"),
        vectors,
        distractors=(1, 2),
    )
    pads = list(peer.padding(corpus, 50))
    assert len({p[0] for p in pads}) == 50 and not any("faq1" in p[0] for p in pads)
    for pad_id, text, vector in pads:
        source = corpus.ids.index(pad_id.split("-", 1)[1])
        assert set(text.split()) <= set(corpus.texts[source].split())
        assert float(vector @ vectors[source]) > 0.9 and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_langchain_embeddings_reuse_known_vectors_and_embed_the_rest(embedder):
    known = {"stored text": np.full(384, 0.5, dtype=np.float32)}
    wrapped = peer.langchain_embeddings(embedder, known)
    docs = wrapped.embed_documents(["stored text", "a new passage"])
    assert docs[0] == known["stored text"].tolist()
    assert np.allclose(docs[1], embedder.embed(["a new passage"])[0], atol=1e-6)
    assert np.allclose(wrapped.embed_query("a question"), embedder.embed(["a question"])[0], atol=1e-6)


@pytest.fixture(scope="module")
def faq(tmp_path_factory) -> Path:
    from eval.datasets.python_faq import DEFAULT_CACHE, build_python_faq

    out = tmp_path_factory.mktemp("faq") / "python-faq"
    build_python_faq(out, DEFAULT_CACHE)  # the .deb is shared with tests/eval/test_python_faq.py
    return out


def test_quick_run_compares_both_retrievers_on_the_same_queries(faq: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ASKDOCS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASKDOCS_MODEL_CACHE", str(MODEL_CACHE))
    out = tmp_path / "peer.json"
    assert peer.main(["--quick", "--beir", str(faq), "--out", str(out), "--workdir", str(tmp_path)]) == 0
    report = json.loads(out.read_text())
    assert report["queries"] == 10 and report["split"] == "test"
    for key, count in (("benchmark", 10), ("benchmark_rerank", 3), ("padded", 10)):
        run = report[key]
        for side in ("askdocs", "peer"):
            latency = run[side]["latency_ms"]
            assert (
                latency["count"] == count
                and 0 < latency["p50"] <= latency["p95"]
                and math.isfinite(latency["p95"])
            )
        assert run["p50_ratio_askdocs_over_peer"] == pytest.approx(
            run["askdocs"]["latency_ms"]["p50"] / run["peer"]["latency_ms"]["p50"]
        )
    quality = report["benchmark"]
    # nDCG is deterministic (same data, same model): askdocs's defaults must not rank worse than the peer.
    assert 0 < quality["peer"]["ndcg@10"] <= quality["askdocs"]["ndcg@10"] <= 1
    # The stand-in cross-encoder has an untrained head: its order means nothing, so no nDCG is claimed.
    assert report["cross_encoder"].startswith("stand-in")
    assert report["benchmark_rerank"]["askdocs"]["ndcg@10"] is None
    padded = report["padded"]
    assert padded["chunks"] == 2000
    assert 0 < padded["peer"]["ndcg@10"] <= 1 and 0 < padded["askdocs"]["ndcg@10"] <= 1
    assert "LangChain Ensemble 0.5/0.5" in peer.table(report)
