"""Embedding speed: torch float32 against ONNX Runtime float32 and int8, and what int8 costs in quality.

    python -m bench.embed_speed [--quick] [--faq DIR] [--out bench/out/embed_speed.json]

Method:
- Chunks: sample_docs/documents and the first N pages of Debian's python3.11-doc library manual (never the
  FAQ, which is evaluation data), parsed by askdocs' loaders and cut by its chunker, as ingestion does.
- Speed: every variant embeds all chunks once per round; the order of variants rotates each round, and
  the ratio to torch is taken within a round and reported as the median over rounds, so a burst of load
  from other processes (2 shared cores) hits one round, not one variant. The baseline is the product's
  ``SentenceTransformerEmbedder`` (sentence-transformers ``encode``, which already sorts texts by length);
  "no bucketing" runs the int8 model on the chunks in their own order, to show what sorting adds.
- Agreement: cosine of each variant's vector with torch's, per chunk (mean and minimum).
- Quality: nDCG@10 on the Python-FAQ benchmark (``python -m eval build python-faq``; built into --faq if
  missing), dense alone and the default hybrid, through eval's ``EvalIndex`` (the index is cached per
  embedder identity in --index-cache), for torch and ONNX int8, with the delta. --quick uses the tiny BEIR
  fixture of the tests instead, which checks the plumbing, not the 0.005 target.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from bench.foundation import ROOT, SAMPLES, Report, offline_and_quiet, python_docs, run_and_report

SPEC = "pkg:all-minilm-l6-v2"
TINY_BEIR = ROOT / "tests" / "eval" / "fixtures" / "beir_tiny"
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"html_files": 40, "max_chunks": 256, "rounds": 3, "max_wait": 20, "splits": ("test", "dev")},
    "quick": {"html_files": 2, "max_chunks": 48, "rounds": 2, "max_wait": 0, "splits": ("test",)},
}


def real_chunks(count_tokens: Any, html_files: int, limit: int) -> list[str]:
    """Chunk texts of the sample documents and manual pages, as ingestion would cut them."""
    from askdocs.settings import Settings
    from ingest.chunking import TokenChunker
    from ingest.loaders import make_loader
    from ingest.validate import detect_kind

    settings = Settings()
    chunker = TokenChunker(count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens)
    texts: list[str] = []
    for path in sorted(p for p in SAMPLES.iterdir() if p.is_file()) + python_docs(html_files):
        data = path.read_bytes()
        document = make_loader(detect_kind(data, path.name)).load(data)
        texts += [piece.text for piece in chunker.split(document)]
    # an even spread over all documents when capped, rather than the first few documents whole
    return texts[:: max(1, len(texts) // limit)][:limit] if len(texts) > limit else texts


def speed(report: Report, variants: dict[str, Any], texts: list[str], rounds: int) -> dict[str, Any]:
    names = list(variants)
    for embedder in variants.values():
        embedder.embed(texts[:8])  # warm-up: first-call allocations stay out of the timing
    seconds: dict[str, list[float]] = {n: [] for n in names}
    vectors: dict[str, np.ndarray] = {}
    with report.background("embed speed", "the timed rounds"):
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate who goes first
                started = time.perf_counter()
                vectors[name] = variants[name].embed(texts)
                seconds[name].append(time.perf_counter() - started)
    result: dict[str, Any] = {"chunks": len(texts), "rounds": rounds, "variants": {}}
    for name in names:
        ratios = [base / own for base, own in zip(seconds["torch"], seconds[name])]
        cosine = np.sum(vectors[name] * vectors["torch"], axis=1)
        row: dict[str, Any] = {
            "chunks_per_s": len(texts) / float(np.median(seconds[name])),
            "ratio_to_torch": float(np.median(ratios)),
            "ratios": ratios,
            "cosine_mean": float(cosine.mean()),
            "cosine_min": float(cosine.min()),
        }
        result["variants"][name] = row
        report.add(
            "embed speed", f"{name}: chunks/s (median of {rounds} rounds)", row["chunks_per_s"], "chunks/s"
        )
        if name != "torch":
            report.add(
                "embed speed",
                f"{name}: speed-up over torch (median per-round ratio)",
                row["ratio_to_torch"],
                "x",
            )
            report.add(
                "embed speed",
                f"{name}: cosine with torch, mean / min",
                row["cosine_mean"],
                f"(min {row['cosine_min']:.4f})",
            )
    return result


def quality(
    report: Report,
    variants: dict[str, Any],
    dataset_dir: Path,
    splits: Sequence[str],
    cache: Path,
    settings: Any,
) -> dict[str, Any]:
    from eval.beir import load_beir
    from eval.retrieval_eval import EvalIndex, evaluate_config, parse_config

    out: dict[str, Any] = {"dataset": str(dataset_dir)}
    for split in splits:
        dataset = load_beir(dataset_dir, split)
        scores: dict[str, dict[str, float]] = {}
        for name, embedder in variants.items():
            started = time.perf_counter()
            index = EvalIndex.open(dataset, settings, embedder, cache)
            try:
                if not index.cached:
                    report.add(
                        "embed quality",
                        f"{name}: index of {len(dataset.corpus)} passages built",
                        time.perf_counter() - started,
                        "s",
                    )
                scores[name] = {
                    config: evaluate_config(index, dataset, parse_config(config, settings))["metrics"][
                        "ndcg@10"
                    ]
                    for config in ("dense", "default")
                }
            finally:
                index.close()
        for config in ("dense", "default"):
            for name in variants:
                report.add(
                    "embed quality",
                    f"{split} ({len(dataset.queries)} q) nDCG@10 {config}, {name}",
                    scores[name][config],
                    "",
                )
            delta = scores["onnx-int8"][config] - scores["torch"][config]
            report.add("embed quality", f"{split} nDCG@10 {config}: onnx-int8 - torch", delta, "")
        out[split] = scores
    return out


def run(args: argparse.Namespace, profile: dict[str, Any], report: Report) -> dict[str, Any]:
    import tempfile

    from askdocs.settings import Settings
    from retrieval.embedders.onnx import OnnxEmbedder
    from retrieval.embedders.sentence_transformers import SentenceTransformerEmbedder

    cache = args.model_cache
    started = time.perf_counter()
    variants: dict[str, Any] = {"torch": SentenceTransformerEmbedder(SPEC, "cpu", 32, cache)}
    report.add("embed load", "torch load", time.perf_counter() - started, "s")
    for name, variant in (("onnx-fp32", "fp32"), ("onnx-int8", "int8")):
        started = time.perf_counter()
        # the first call exports into the cache
        variants[name] = OnnxEmbedder(SPEC, cast(Literal["fp32", "int8"], variant), 32, cache)
        report.add(
            "embed load", f"{name} load (export included when not cached)", time.perf_counter() - started, "s"
        )
    variants["onnx-int8, no bucketing"] = OnnxEmbedder(SPEC, "int8", 32, cache, bucketing=False)
    texts = real_chunks(variants["torch"].count_tokens, profile["html_files"], profile["max_chunks"])
    lengths = [variants["torch"].count_tokens(t) for t in texts]
    report.add(
        "embed speed",
        f"chunk length, mean (min {min(lengths)}, max {max(lengths)})",
        np.mean(lengths),
        "tokens",
    )
    result = {"speed": speed(report, variants, texts, profile["rounds"])}
    faq = args.faq if not args.quick else TINY_BEIR
    if not (faq / "corpus.jsonl").is_file():
        from eval.datasets import python_faq

        print(f"building the Python-FAQ benchmark into {faq}", file=sys.stderr)
        if python_faq.main(["--out", str(faq)]):
            raise SystemExit("python -m eval build python-faq failed")
    with tempfile.TemporaryDirectory(prefix="askdocs-embed-") as tmp:
        settings = Settings(data_dir=Path(tmp), model_cache=cache)
        index_cache = Path(tmp) / "index" if args.quick else args.index_cache
        chosen = {name: variants[name] for name in ("torch", "onnx-int8")}
        result["quality"] = quality(report, chosen, faq, profile["splits"], index_cache, settings)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.embed_speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few chunks, the tiny BEIR fixture (~1 min)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "embed_speed.json")
    parser.add_argument(
        "--faq",
        type=Path,
        default=ROOT / ".askdocs" / "eval" / "python-faq",
        help="the Python-FAQ benchmark folder (built there if missing)",
    )
    parser.add_argument(
        "--index-cache",
        type=Path,
        default=ROOT / ".askdocs" / "bench-embed-index",
        help="FAQ indexes kept between runs, one per embedder identity",
    )
    parser.add_argument("--model-cache", type=Path, default=ROOT / ".askdocs" / "bench-models")
    parser.add_argument("--html-files", type=int, metavar="N", help="manual pages (default 40, quick 2)")
    parser.add_argument("--rounds", type=int, metavar="N", help="timed rounds (default 3, quick 2)")
    args = parser.parse_args(argv)
    offline_and_quiet()
    profile = dict(PROFILES["quick" if args.quick else "full"])
    profile["html_files"] = args.html_files or profile["html_files"]
    profile["rounds"] = args.rounds or profile["rounds"]
    run_and_report(
        "bench.embed_speed",
        argv,
        profile,
        args.out,
        lambda report, info: info.update(run(args, profile, report)),
    )


if __name__ == "__main__":
    main()
