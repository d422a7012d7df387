"""The quick adaptation benchmark runs in CI, so that it cannot rot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE, SMOLLM

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_quick_adaptation_benchmark_measures_before_and_after_on_real_questions(
    tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    pytest.importorskip("llama_cpp", reason="the packaged SmolLM2 runs through llama.cpp here")
    from askdocs.settings import load_settings
    from bench import adaptation
    from eval.beir import load_beir
    from eval.retrieval_eval import EvalIndex, evaluate_config, parse_config
    from retrieval.embedders import embedder_from_settings
    from retrieval.rerankers import per_collection

    for name, value in {
        "ASKDOCS_DATA_DIR": tmp_path / "data",
        "ASKDOCS_GENERATOR_BACKEND": "llamacpp",
        "ASKDOCS_GENERATOR_MODEL": SMOLLM,
        "ASKDOCS_MODEL_CACHE": MODEL_CACHE,
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("ASKDOCS_RERANKER", raising=False)
    out, models = tmp_path / "adaptation.json", tmp_path / "models"
    report = adaptation.main(["--quick", "--out", str(out), "--keep", str(models)])

    assert json.loads(out.read_text())["adaptation"] == json.loads(json.dumps(report["adaptation"]))
    counts = report["adaptation"]["counts"]
    assert counts["passages"] == 12 and counts["steps"] == 3 and counts["held_out_questions"] >= 1
    assert report["base"].startswith("MiniLM")  # no ASKDOCS_RERANKER: nothing but retrieval to beat
    real = report["real_questions"]["test"]
    assert real["queries"] == 12 and set(real) == {"queries", "retrieval", "adapted"}
    for name in ("retrieval", "adapted"):
        assert 0 <= real[name]["mrr@10"] <= real[name]["ndcg@10"] <= 1  # one relevant passage or more

    # The benchmark's "retrieval" order is the eval's default configuration, query for query.
    settings = load_settings()
    embedder = embedder_from_settings(settings)
    dataset = load_beir(settings.data_dir / "eval" / "datasets" / "smoke", "test")
    index = EvalIndex.open(dataset, settings, embedder, settings.data_dir / "eval" / "index")
    try:
        assert index.cached  # the benchmark built it
        default = evaluate_config(index, dataset, parse_config("default", settings))["metrics"]
    finally:
        index.close()
    assert real["retrieval"]["ndcg@10"] == pytest.approx(default["ndcg@10"])
    assert real["retrieval"]["mrr@10"] == pytest.approx(default["mrr@10"])

    saved = Path(report["adaptation"]["folder"])
    assert saved.parent.parent == per_collection.collection_dir(models / "rerankers", "eval")
    assert (saved / "model.safetensors").is_file()
    assert (per_collection.adopted_run(saved.parent.parent) == saved) == report["adaptation"]["adopted"]
