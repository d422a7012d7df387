"""Rerank latency for 20 candidates: torch CrossEncoder against ONNX Runtime float32 and int8, at two lengths.

    python -m bench.rerank_speed [--quick] [--model FOLDER] [--out bench/out/rerank_speed.json]

Method:
- Candidates: chunks of sample_docs/documents and the first N pages of Debian's python3.11-doc library
  manual (never the FAQ, which is evaluation data), cut as ingestion cuts them; queries are the manual's
  section headings; each query's candidates are its BM25 top 20 among those chunks, as in the answer path.
- Model: no trained cross-encoder weights exist offline, so unless ``--model`` names one, the model is
  MiniLM-L6's transformer under an untrained, seeded one-logit head (``bench.peer``'s stand-in), the
  architecture of ``cross-encoder/ms-marco-MiniLM-L6-v2``. Speed does not depend on the weights; the
  agreement columns do: an untrained head scores every pair near the same value, so small int8 errors
  reorder them more than they would a trained model's well-separated scores.
- Speed: the baseline is the product's ``CrossEncoderReranker`` (torch) at max_length 256. Each round,
  every variant reranks every query's 20 candidates; the variants' order rotates each round, the ratio to
  the baseline is taken within a round and reported as the median over rounds, so a burst of load from
  other processes (2 shared cores) hits one round, not one variant. p50/p95 are over all queries and rounds.
- Agreement with the baseline, per query: Spearman correlation of the 20 scores, overlap of the top 5, and
  the largest absolute score difference (scores after the model's sigmoid, as ``CrossEncoder.predict``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from bench.foundation import ROOT, Report, headings, offline_and_quiet, python_docs, run_and_report
from bench.measure import percentiles

SPEC = "pkg:all-minilm-l6-v2"
CANDIDATES = 20
BASELINE = "torch-256"
VARIANTS = (
    ("torch", 256),
    ("torch", 128),
    ("onnx-fp32", 256),
    ("onnx-fp32", 128),
    ("onnx-int8", 256),
    ("onnx-int8", 128),
)
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"html_files": 40, "max_chunks": 600, "queries": 30, "rounds": 3, "max_wait": 20},
    "quick": {"html_files": 2, "max_chunks": 200, "queries": 3, "rounds": 1, "max_wait": 0},
}


def candidates(count_tokens: Any, profile: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(query, its BM25 top 20 chunk texts) for manual headings, over sample-doc and manual chunks."""
    from bench.embed_speed import real_chunks
    from retrieval.bm25 import BM25Index

    texts = real_chunks(count_tokens, profile["html_files"], profile["max_chunks"])
    index = BM25Index.build((str(i), str(i), t) for i, t in enumerate(texts))
    out = []
    for query in headings(python_docs(profile["html_files"]), 10 * profile["queries"]):
        hits = index.search(query, CANDIDATES)
        if len(hits) == CANDIDATES:  # only queries with a full candidate list: the latency is per 20
            out.append((query, [texts[int(h.chunk_id)] for h in hits]))
    return out[: profile["queries"]]


def rank_agreement(base: Sequence[float], other: Sequence[float]) -> tuple[float, float]:
    """Spearman correlation (no ties expected in float scores) and top-5 overlap of two score lists."""
    ranks = [np.argsort(np.argsort(s)).astype(float) for s in (base, other)]
    spearman = float(np.corrcoef(*ranks)[0, 1])  # type: ignore[call-overload]  # numpy's overloads miss *args
    top = [set(np.argsort(s)[::-1][:5]) for s in (base, other)]
    return spearman, len(top[0] & top[1]) / 5


def speed(
    report: Report, variants: dict[str, Any], pairs: list[tuple[str, list[str]]], rounds: int
) -> dict[str, Any]:
    names = list(variants)
    for reranker in variants.values():
        reranker.score(*pairs[0])  # warm-up: first-call allocations stay out of the timing
    ms: dict[str, list[list[float]]] = {n: [] for n in names}  # per round, per query
    scores: dict[str, list[list[float]]] = {}
    with report.background("rerank speed", "the timed rounds"):
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate who goes first
                times, scores[name] = [], []
                for query, passages in pairs:
                    started = time.perf_counter()
                    scores[name].append(variants[name].score(query, passages))
                    times.append(1000 * (time.perf_counter() - started))
                ms[name].append(times)
    result: dict[str, Any] = {
        "queries": len(pairs),
        "candidates": CANDIDATES,
        "rounds": rounds,
        "variants": {},
    }
    for name in names:
        ratios = [sum(base) / sum(own) for base, own in zip(ms[BASELINE], ms[name])]
        latency = percentiles(t for times in ms[name] for t in times)
        agreement = [rank_agreement(b, o) for b, o in zip(scores[BASELINE], scores[name])]
        row: dict[str, Any] = {
            "p50_ms": latency["p50"],
            "p95_ms": latency["p95"],
            "ratio_to_baseline": float(np.median(ratios)),
            "ratios": ratios,
            "spearman_mean": float(np.mean([a[0] for a in agreement])),
            "top5_overlap_mean": float(np.mean([a[1] for a in agreement])),
            "max_score_diff": float(
                max(np.max(np.abs(np.subtract(b, o))) for b, o in zip(scores[BASELINE], scores[name]))
            ),
        }
        result["variants"][name] = row
        report.add(
            "rerank speed",
            f"{name}: p50 / p95 per query of {CANDIDATES}",
            row["p50_ms"],
            f"ms (p95 {row['p95_ms']:.1f})",
        )
        if name != BASELINE:
            report.add(
                "rerank speed",
                f"{name}: speed-up over {BASELINE} (median per-round ratio)",
                row["ratio_to_baseline"],
                "x",
            )
            report.add(
                "rerank agree",
                f"{name}: Spearman / top-5 overlap with {BASELINE}",
                row["spearman_mean"],
                f"(top-5 {row['top5_overlap_mean']:.2f}, max |score diff| {row['max_score_diff']:.2g})",
            )
    return result


def run(args: argparse.Namespace, profile: dict[str, Any], report: Report, work: Path) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from askdocs.models import resolve_embedder
    from bench.peer import stand_in_cross_encoder
    from retrieval.rerankers.cross_encoder import CrossEncoderReranker
    from retrieval.rerankers.onnx import OnnxCrossEncoderReranker

    folder = args.model or stand_in_cross_encoder(
        Path(resolve_embedder(SPEC, args.model_cache)), work / "stand-in"
    )
    model = (
        str(args.model)
        if args.model
        else "stand-in: MiniLM-L6 + untrained seeded one-logit head (speed only)"
    )
    print(f"cross-encoder: {model}", flush=True)
    variants: dict[str, Any] = {}
    for kind, length in VARIANTS:
        started = time.perf_counter()
        if kind == "torch":
            variants[f"{kind}-{length}"] = CrossEncoderReranker(str(folder), "cpu", max_length=length)
        else:  # the first load of each variant exports into the cache
            variants[f"{kind}-{length}"] = OnnxCrossEncoderReranker(
                folder,
                cast(Literal["fp32", "int8"], kind.removeprefix("onnx-")),
                max_length=length,
                cache_dir=work if not args.model else args.model_cache,
            )
        report.add(
            "rerank load",
            f"{kind}-{length} load (export included when not cached)",
            time.perf_counter() - started,
            "s",
        )
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    pairs = candidates(lambda t: len(tokenizer.encode(t, add_special_tokens=False)), profile)
    lengths = [len(tokenizer.encode(q, p)) for q, ps in pairs for p in ps]
    report.add(
        "rerank input",
        f"pair length, mean (min {min(lengths)}, max {max(lengths)}; > 128: "
        f"{np.mean(np.array(lengths) > 128):.0%})",
        float(np.mean(lengths)),
        "tokens",
    )
    return {"model": model, "speed": speed(report, variants, pairs, profile["rounds"])}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rerank_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 queries, one round (CI)")
    parser.add_argument("--model", type=Path, help="a one-logit CrossEncoder folder (default: the stand-in)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "rerank_speed.json")
    parser.add_argument("--model-cache", type=Path, default=ROOT / ".askdocs" / "bench-models")
    parser.add_argument("--queries", type=int, metavar="N", help="queries (default 30, quick 3)")
    parser.add_argument("--rounds", type=int, metavar="N", help="timed rounds (default 3, quick 1)")
    args = parser.parse_args(argv)
    offline_and_quiet()
    profile = dict(PROFILES["quick" if args.quick else "full"])
    profile["queries"] = args.queries or profile["queries"]
    profile["rounds"] = args.rounds or profile["rounds"]
    with tempfile.TemporaryDirectory(prefix="askdocs-rerank-") as tmp:
        run_and_report(
            "bench.rerank_speed",
            argv,
            profile,
            args.out,
            lambda report, info: info.update(run(args, profile, report, Path(tmp))),
        )


if __name__ == "__main__":
    main()
