"""The smoke-set check a training run ends with: does the new reranker lose on the sample documents?

The issue's bar for shipping a reranker has two halves: beat the best retrieval on the Python-FAQ test
split, and do not lose on the sample documents' smoke set (``eval.datasets.sample_smoke``). Both trained
models so far cleared the first fused and failed the second, which only a separate ``python -m eval`` run
showed. So every training run now scores the smoke set itself and records it in ``training.json`` and the
model card: retrieval alone (the app's default hybrid), the model fused with it (``rrf``) and the model
replacing it.

Design choices:
- The smoke set's 12 questions are a regression check, never training data, and far too few to tune on;
  this only reports.
- The index is built in a temporary folder from ``sample_docs`` (seconds), chunked as the app chunks, with
  the configured embedder; the model runs on torch at the length it was trained at.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

CONFIGS = {"retrieval": "default", "fused": "default+rerank:rrf", "replacing": "default+rerank:off"}


def smoke_ndcg(model: Path, max_length: int) -> dict[str, float]:
    """nDCG@10 on the smoke set: retrieval alone, and with ``model`` fused and replacing."""
    from askdocs.settings import load_settings
    from eval.beir import load_beir
    from eval.retrieval_eval import EvalIndex, evaluate_config, parse_config
    from eval.runner import prepared_dataset
    from retrieval.embedders import embedder_from_settings
    from retrieval.rerankers.cross_encoder import CrossEncoderReranker

    configured = load_settings()
    with tempfile.TemporaryDirectory(prefix="askdocs-smoke-check-") as tmp:
        settings = configured.model_copy(
            update={"data_dir": Path(tmp), "model_cache": configured.model_cache_dir}
        )
        embedder = embedder_from_settings(settings)
        dataset = load_beir(prepared_dataset("smoke", settings, embedder.count_tokens), "test")
        reranker = CrossEncoderReranker(
            str(model), "cpu", max_length
        )  # first: a failure leaves no store open
        index = EvalIndex.open(dataset, settings, embedder, Path(tmp) / "index")
        try:
            return {
                name: round(
                    evaluate_config(index, dataset, parse_config(config, settings), reranker)["metrics"][
                        "ndcg@10"
                    ],
                    4,
                )
                for name, config in CONFIGS.items()
            }
        finally:
            index.close()


def fused_loses(scores: dict[str, float]) -> bool:
    """Whether the model fused with retrieval scores below retrieval alone: the bar's second half fails."""
    return scores["fused"] < scores["retrieval"]


def card_line(scores: dict) -> str:
    """The model card's line for :func:`smoke_ndcg`'s numbers, saying whether the bar's second half holds."""
    if "error" in scores:
        return f"- Smoke set: the check could not run ({scores['error']}).\n"
    verdict = "**loses**" if fused_loses(scores) else "does not lose"
    return (
        f"- Smoke set (the sample documents' 12 questions, a regression check, never training data), "
        f"nDCG@10: retrieval alone {scores['retrieval']:.4f}; fused with this model (rrf) "
        f"{scores['fused']:.4f}, which {verdict} against retrieval; this model's order alone "
        f"{scores['replacing']:.4f}.\n"
    )
