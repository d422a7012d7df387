"""Adapting the reranker to a real corpus: before and after, on held-out synthetic questions and on real ones.

    python -m bench.adaptation [--quick] [--dataset zsh-faq] [--base DIR] [--fusion rrf]
                               [--questions 200] [--steps 100] [--lr F]
                               [--keep DIR] [--out bench/out/adaptation.json]

Method:
- Corpus: a benchmark this project builds (default the Zsh FAQ: its answers and the Zsh manual's sections,
  from Debian's ``zsh-common`` and ``zsh-doc``), indexed exactly as ``python -m eval retrieval`` indexes it
  (``EvalIndex``, cached under ``DATA_DIR/eval/index``). It stands for a user's collection.
- Adaptation: ``tuning.adapt.adapt`` on that collection, unchanged, with the configured local generator
  (``ASKDOCS_GENERATOR_BACKEND``/``_MODEL``): it reports MRR@10 and nDCG@10 on its own held-out slice of
  synthetic questions, before (retrieval alone, the base reranker) and after. Its model and the cached
  generator replies go to a temporary data folder, never the user's; ``--keep DIR`` keeps them, so a
  rerun with the same ``DIR`` does not write the questions again.
- Real questions, which adaptation never sees: every query of each split of the benchmark. Each query's
  candidates come from the same hybrid retriever without a reranker; nDCG@10 and MRR@10 against the
  benchmark's judgments are taken for three orders of the same candidates: retrieval's, the base
  reranker's and the adapted model's, each reordered as a search does (``tuning.adoption.reorder``, with
  ``--fusion``). The baseline (retrieval, base reranker) is measured in the same process on the same
  candidates, so only the model differs.
- The base (``--base``, else ``ASKDOCS_RERANKER``; none: MiniLM-L6 with a new head, as adaptation starts)
  and the adapted model both run on torch at ``--max-length`` tokens, the length adaptation trains at.
- ``--quick`` (the CI run): the sample documents' smoke set, 12 questions, 3 steps, 64 tokens.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.foundation import ROOT, Report, offline_and_quiet, run_and_report

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "dataset": "zsh-faq",
        "questions": 200,
        "steps": 100,
        "held_out_share": 0.25,
        "max_length": 128,
        "min_held_out": 20,
        "max_wait": 20,
    },
    "quick": {
        "dataset": "smoke",
        "questions": 12,
        "steps": 3,
        "held_out_share": 0.34,
        "max_length": 64,
        "min_held_out": 1,
        "max_wait": 0,
    },
}


def real_question_scores(
    dataset: Any,
    candidates: Callable[[str], list[Any]],
    orders: dict[str, Callable[[str, list[Any]], list[Any]]],
) -> dict[str, dict[str, float]]:
    """Mean nDCG@10 and MRR@10 over ``dataset``'s queries of each order of the same candidates."""
    from eval.metrics import mrr_at_k, ndcg_at_k

    sums: dict[str, dict[str, list[float]]] = {name: {"ndcg@10": [], "mrr@10": []} for name in orders}
    for query_id, question in sorted(dataset.queries.items()):
        found = candidates(question)
        judgments = dataset.qrels.get(query_id, {})
        for name, order in orders.items():
            ranked = [c.doc_id for c in order(question, found)]
            sums[name]["ndcg@10"].append(ndcg_at_k(ranked, judgments, 10))
            sums[name]["mrr@10"].append(mrr_at_k(ranked, judgments, 10))
    return {
        name: {metric: float(np.mean(values)) for metric, values in by.items()} for name, by in sums.items()
    }


def run(args: argparse.Namespace, profile: dict[str, Any], info: dict[str, Any], report: Report) -> None:
    from askdocs.settings import load_settings
    from eval.beir import available_splits, load_beir
    from eval.retrieval_eval import COLLECTION, EvalIndex
    from eval.runner import prepared_dataset
    from retrieval.embedders import embedder_from_settings
    from retrieval.factory import RetrievalStack
    from retrieval.hybrid import HybridConfig, HybridRetriever
    from retrieval.rerankers import reranker_from_settings
    from retrieval.rerankers.cross_encoder import CrossEncoderReranker
    from tuning.adapt import adapt
    from tuning.adoption import reorder

    overrides: dict[str, Any] = {
        "reranker_backend": "torch",
        "reranker_max_length": profile["max_length"],
        "rerank_fusion": args.fusion,
    }
    if args.base is not None:
        overrides["reranker"] = args.base
    settings = load_settings()
    # pinned: the adaptation's copy of the settings moves data_dir, and the cache would move with it
    overrides["model_cache"] = args.model_cache or settings.model_cache_dir
    settings = settings.model_copy(update=overrides)
    info["settings"] = settings.model_dump(mode="json", exclude={"api_key"})
    embedder = embedder_from_settings(settings)
    folder = prepared_dataset(profile["dataset"], settings, embedder.count_tokens)
    datasets = {split: load_beir(folder, split) for split in available_splits(folder)}
    corpus = next(iter(datasets.values()))
    index = EvalIndex.open(corpus, settings, embedder, settings.data_dir / "eval" / "index")
    models = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="askdocs-adapt-bench-"))
    try:
        config = HybridConfig.from_settings(settings)
        base = reranker_from_settings(settings)
        stack = RetrievalStack(
            index.store,
            index.embedder,
            index.bm25,
            HybridRetriever(index.store, index.embedder, index.bm25, config, base),
        )
        report.add("corpus", f"passages of {profile['dataset']}", index.store.count(COLLECTION), "chunks")
        info["base"] = settings.reranker or "MiniLM-L6 transformer, new head"
        stages: list[str] = []

        def progress(stage: str, done: int, total: int) -> None:
            if not stages or stages[-1] != stage:
                stages.append(stage)
                print(f"{stage}…", flush=True)

        with report.background("adapt", "adaptation"):
            result = adapt(
                settings.model_copy(update={"data_dir": models}),
                COLLECTION,
                profile["questions"],
                profile["steps"],
                profile["held_out_share"],
                stack=stack,
                max_length=profile["max_length"],
                min_held_out=profile["min_held_out"],
                lr=args.lr,
                progress=progress,
            )
        info["adaptation"] = result.to_dict()
        for name, value in result.counts.items():
            report.add("adapt", name.replace("_", " "), value, "")
        for name, seconds in result.seconds.items():
            report.add("adapt", f"time: {name}", seconds, "s")
        held_out = {**result.before, "adapted": result.after}
        for name, scores in held_out.items():
            if scores is not None:
                report.add("held out", f"{name.replace('_', ' ')} nDCG@10", scores.ndcg_at_10, "")
                report.add("held out", f"{name.replace('_', ' ')} MRR@10", scores.mrr_at_10, "")
        report.add("held out", "adopted", float(result.adopted), "1 = yes")
        print(f"{'adopted' if result.adopted else 'not adopted'}: {result.reason}", flush=True)

        plain = HybridRetriever(index.store, index.embedder, index.bm25, config)
        depth = max(config.rerank_candidates, 10)
        adapted = CrossEncoderReranker(str(result.folder), "cpu", profile["max_length"])
        orders: dict[str, Callable[[str, list[Any]], list[Any]]] = {"retrieval": lambda q, found: found}
        if base is not None:
            orders["base reranker"] = lambda q, found: reorder(base, config, q, found)
        orders["adapted"] = lambda q, found: reorder(adapted, config, q, found)
        info["real_questions"] = {}
        for split, dataset in datasets.items():
            started = time.perf_counter()
            measured = real_question_scores(
                dataset, lambda q: [h.chunk for h in plain.retrieve(q, COLLECTION, k=depth).hits], orders
            )
            info["real_questions"][split] = {"queries": len(dataset.queries), **measured}
            for name, metrics in measured.items():
                report.add(
                    f"real {split}",
                    f"{name} nDCG@10 ({len(dataset.queries)} queries)",
                    metrics["ndcg@10"],
                    "",
                )
                report.add(f"real {split}", f"{name} MRR@10", metrics["mrr@10"], "")
            best = max(v["ndcg@10"] for k, v in measured.items() if k != "adapted")
            report.add(
                f"real {split}",
                "adapted minus best baseline, nDCG@10",
                measured["adapted"]["ndcg@10"] - best,
                "",
            )
            report.add(f"real {split}", "measuring time", time.perf_counter() - started, "s")
    finally:
        index.close()
        if not args.keep:
            shutil.rmtree(models, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.adaptation", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smoke set, tiny settings (CI)")
    parser.add_argument("--dataset", choices=("zsh-faq", "python-faq", "smoke"))
    parser.add_argument("--base", help="the reranker to adapt (default: ASKDOCS_RERANKER; '' for none)")
    parser.add_argument(
        "--fusion",
        choices=("off", "rrf"),
        default="rrf",
        help="how a reranker's order meets retrieval's (ASKDOCS_RERANK_FUSION), default rrf",
    )
    parser.add_argument("--questions", type=int, help="passages to write a question for")
    parser.add_argument("--steps", type=int, help="training steps")
    parser.add_argument("--lr", type=float, help="learning rate (default: adaptation's own)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="save the adapted model under DIR")
    parser.add_argument("--model-cache", type=Path, help="converted model weights (default: the setting)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "adaptation.json")
    args = parser.parse_args(argv)
    offline_and_quiet()
    profile = dict(PROFILES["quick" if args.quick else "full"])
    for name in ("dataset", "questions", "steps"):
        if getattr(args, name) is not None:
            profile[name] = getattr(args, name)
    return run_and_report(
        "bench.adaptation", argv, profile, args.out, lambda report, info: run(args, profile, info, report)
    )


if __name__ == "__main__":
    main()
