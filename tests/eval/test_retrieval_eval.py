"""The retrieval runner: configuration names, and a whole run on a tiny BEIR folder with the real embedder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.beir import load_beir
from eval.retrieval_eval import parse_config
from eval.runner import run_retrieval
from tests.conftest import make_settings

TINY = Path(__file__).parent / "fixtures" / "beir_tiny"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "bm25", "dense", "candidates", "rerank"),
    [
        ("bm25", 1.0, 0.0, 100, False),
        ("dense", 0.0, 1.0, 100, False),
        ("hybrid@0.5", 0.5, 1.0, 100, False),
        ("hybrid@2/d30", 2.0, 1.0, 30, False),
        ("dense+rerank", 0.0, 1.0, 100, True),
    ],
)
def test_configuration_names(tmp_path, name, bm25, dense, candidates, rerank):
    config = parse_config(name, make_settings(tmp_path))
    assert (config.hybrid.bm25_weight, config.hybrid.dense_weight) == (bm25, dense)
    assert (config.hybrid.bm25_candidates, config.hybrid.dense_candidates) == (candidates, candidates)
    assert config.rerank is rerank and config.hybrid.top_k == 100


@pytest.mark.unit
def test_default_takes_weights_and_depths_from_the_settings(tmp_path):
    settings = make_settings(
        tmp_path, bm25_weight=0.3, dense_weight=1.0, bm25_candidates=40, dense_candidates=50
    )
    config = parse_config("default", settings)
    assert (config.hybrid.bm25_weight, config.hybrid.bm25_candidates, config.hybrid.dense_candidates) == (
        0.3,
        40,
        50,
    )


@pytest.mark.unit
def test_the_rerank_fusion_comes_from_the_name_or_else_the_settings(tmp_path):
    settings = make_settings(tmp_path, rerank_fusion="rrf")
    assert parse_config("default+rerank", settings).hybrid.rerank_fusion == "rrf"
    assert parse_config("default+rerank:off", settings).hybrid.rerank_fusion == "off"
    explicit = parse_config("dense+rerank:rrf", make_settings(tmp_path))
    assert explicit.rerank and explicit.hybrid.rerank_fusion == "rrf"
    assert explicit.description.endswith("(RRF-fused with retrieval's order)")


@pytest.mark.unit
@pytest.mark.parametrize(
    "name", ["bm24", "hybrid", "hybrid@x", "dense/d", "default+rerank+rerank", "dense+rerank:max"]
)
def test_a_bad_configuration_name_says_what_is_allowed(tmp_path, name):
    with pytest.raises(ValueError, match=r"hybrid@W"):
        parse_config(name, make_settings(tmp_path))


@pytest.mark.integration
def test_a_run_writes_metrics_that_agree_with_pytrec_eval_and_reuses_its_index(tmp_path, embedder):
    pytrec_eval = pytest.importorskip("pytrec_eval")
    settings = make_settings(tmp_path / "data")
    folder = run_retrieval(
        TINY, settings, configs=["bm25", "dense", "hybrid@0.5"], out=tmp_path / "run", embedder=embedder
    )
    metrics = json.loads((folder / "metrics.json").read_text())
    assert sorted(metrics) == ["bm25", "dense", "hybrid@0.5"]
    run = json.loads((folder / "run.json").read_text())
    assert run["dataset"]["queries"] == 4 and run["dataset"]["dropped"]["queries_without_relevant"] == 1
    assert (folder / "report.html").exists() and (folder / "recall-at-k.png").exists()

    dataset = load_beir(TINY)
    qrels = {q: dict(j) for q, j in dataset.qrels.items()}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10"})
    for name, config in run["configs"].items():
        # Scores that keep the run's order (trec_eval sorts by score, not by our rank).
        ranked = {
            q: {hit["id"]: 100.0 - i for i, hit in enumerate(row["retrieved"])}
            for q, row in config["per_query"].items()
        }
        reference = evaluator.evaluate(ranked)
        ndcg = sum(r["ndcg_cut_10"] for r in reference.values()) / len(reference)
        recall = sum(r["recall_10"] for r in reference.values()) / len(reference)
        assert metrics[name]["ndcg@10"] == pytest.approx(ndcg, abs=1e-9), name
        assert metrics[name]["recall@10"] == pytest.approx(recall, abs=1e-9), name
        assert len(config["latencies_ms"]) == 4 and metrics[name]["latency_p50_ms"] > 0

    again = run_retrieval(TINY, settings, configs=["bm25"], out=tmp_path / "again", embedder=embedder)
    rerun = json.loads((again / "run.json").read_text())
    assert rerun["extra"]["index"]["reused"] is True  # the corpus was not embedded again
    assert rerun["extra"]["index"]["build_seconds"] == run["extra"]["index"]["build_seconds"] > 0
    assert rerun["configs"]["bm25"]["per_query"] == run["configs"]["bm25"]["per_query"]


@pytest.mark.integration
def test_a_rerank_configuration_without_a_reranker_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="ASKDOCS_RERANKER"):
        run_retrieval(TINY, make_settings(tmp_path / "data"), configs=["dense+rerank"], out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_a_rerank_configuration_runs_the_configured_cross_encoder(tmp_path, embedder):
    from sentence_transformers import CrossEncoder

    from askdocs.models import resolve_embedder

    # No trained cross-encoder ships offline (issue 4 trains one); an untrained head on MiniLM is a
    # real model folder, enough to show the stage runs and reorders only the top candidates.
    CrossEncoder(resolve_embedder("pkg:all-minilm-l6-v2"), num_labels=1).save(str(tmp_path / "ce"))
    settings = make_settings(tmp_path / "data", reranker=str(tmp_path / "ce"), rerank_candidates=3)
    folder = run_retrieval(
        TINY, settings, configs=["dense", "dense+rerank"], out=tmp_path / "run", embedder=embedder
    )
    run = json.loads((folder / "run.json").read_text())
    description = run["configs"]["dense+rerank"]["description"]
    assert description.endswith("+ reranker (its order replaces retrieval's)")
    for query_id, plain in run["configs"]["dense"]["per_query"].items():
        reranked = run["configs"]["dense+rerank"]["per_query"][query_id]
        plain_ids = [h["id"] for h in plain["retrieved"]]
        reranked_ids = [h["id"] for h in reranked["retrieved"]]
        assert sorted(reranked_ids[:3]) == sorted(plain_ids[:3]) and reranked_ids[3:] == plain_ids[3:]


@pytest.mark.integration
def test_a_failed_run_leaves_no_half_run_and_no_locked_index(tmp_path, embedder):
    class Failing:
        spec, dimension, max_tokens = embedder.spec, embedder.dimension, embedder.max_tokens

        def embed(self, texts):  # noqa: ANN001, ANN201
            raise RuntimeError("the embedder fell over")

        def count_tokens(self, text):  # noqa: ANN001, ANN201
            return embedder.count_tokens(text)

    settings = make_settings(tmp_path / "data")
    with pytest.raises(RuntimeError, match="fell over"):
        run_retrieval(TINY, settings, configs=["dense"], embedder=Failing())
    runs = tmp_path / "data" / "eval" / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []
    # The same corpus index opens again in this process: the failed build released its lock.
    folder = run_retrieval(TINY, settings, configs=["dense"], embedder=embedder)
    assert (folder / "metrics.json").exists() and folder.parent == runs
