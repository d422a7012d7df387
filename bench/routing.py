"""What routing by need saves (time, strong-model tokens) and what it costs (answer quality).

    python -m bench.routing [--fast pkg:smollm2-135m-instruct] [--strong MODEL] [--quick]
                            [--strong-price IN,OUT] [--faq]

The sample documents are indexed once (real embedder, real store); then the same questions are
answered three times through the real answer pipeline and scored by the evaluation suite's answer
metrics (``eval.answer_eval``):

- **fast only**: every question to the fast model, with the fast tier's answer limit
  (``ASKDOCS_FAST_MAX_ANSWER_TOKENS``) as under routing;
- **strong only**: every question to the strong model (what askdocs does without routing);
- **routed**: ``generation.routing`` picks per question.

The questions are the 12 sample questions with gold answers and the 3 unanswerable ones (all of them
short factual questions), plus ``bench/routing_questions/questions.jsonl``: 8 multi-part and comparative
questions over the same documents, written for this benchmark, with short gold answers. The routing
rule was written before those 8 were, but by the same people, so the split they get is not evidence
that the rule classifies well: ``--faq`` adds how the rule splits the Python FAQ's question titles
(routing only, no answers), a set nobody here wrote. No cache: every answer reaches a model.

Ratios compare *routed* with *strong only*, the configuration routing replaces. Times are wall
time on this machine (answers run one after another); ``--strong-price`` turns the strong tier's
tokens into dollars as if it were an API model (the fast tier is local and costs 0).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from askdocs.machine import cpu_line
from askdocs.quiet import quiet_libraries
from askdocs.settings import Settings, load_settings
from eval.answer_eval import GoldQuestion, evaluate_answers, load_questions
from generation.generators import Generator, generator_from_settings
from generation.pipeline import AnswerPipeline
from generation.routing import classify
from ingest.pipeline import Ingestor
from retrieval.factory import open_retrieval

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_docs"
HARD = ROOT / "bench" / "routing_questions"
OUT = ROOT / "bench" / "out" / "routing.json"
CONFIGS = ("fast only", "strong only", "routed")


def questions(quick: bool) -> list[GoldQuestion]:
    """Simple (sample) answerable questions, the hard ones, then the unanswerable ones."""
    sample = load_questions(SAMPLE)
    simple = [q for q in sample if q.answerable]
    unanswerable = [q for q in sample if not q.answerable]
    hard = load_questions(HARD)
    if quick:
        simple, hard, unanswerable = simple[:1], hard[:1], unanswerable[:1]
    return simple + hard + unanswerable


def local_generator(settings: Settings, model: str) -> Generator:
    return generator_from_settings(
        settings.model_copy(update={"generator_backend": "local", "generator_model": model})
    )


def summarise(result: dict, hard_ids: set[str], price: tuple[float, float] | None, strong_name: str) -> dict:
    rows = result["per_query"]
    answerable = {k: r for k, r in rows.items() if r["answerable"]}

    def mean(values: Sequence[float]) -> float:
        return statistics.fmean(values) if values else float("nan")

    strong_rows = [r for r in rows.values() if r["backend"] == strong_name]
    tokens_in = sum(r["tokens_in"] for r in strong_rows)
    tokens_out = sum(r["tokens_out"] for r in strong_rows)
    return {
        "correctness": mean([r["correctness"] for r in answerable.values()]),
        "correctness simple": mean([r["correctness"] for k, r in answerable.items() if k not in hard_ids]),
        "correctness hard": mean([r["correctness"] for k, r in answerable.items() if k in hard_ids]),
        "citation validity": result["metrics"]["citation_validity"],
        "abstention accuracy": result["metrics"]["abstention_accuracy"],
        "total p50 s": result["metrics"]["total_p50_ms"] / 1000,
        "total p95 s": result["metrics"]["total_p95_ms"] / 1000,
        "all answers s": sum(r["total_ms"] for r in rows.values()) / 1000,
        "to strong": sum(r["backend"] == strong_name for r in rows.values()),
        "strong tokens in": tokens_in,
        "strong tokens out": tokens_out,
        "strong cost USD": (tokens_in * price[0] + tokens_out * price[1]) / 1e6 if price else None,
    }


def faq_split(settings: Settings) -> dict:
    """How the rule routes the Python FAQ's question titles (no answers: the rule alone)."""
    from eval.runner import prepared_dataset

    folder = prepared_dataset("python-faq", settings)
    titles = [
        json.loads(line)["text"] for line in (folder / "queries.jsonl").read_text().splitlines() if line
    ]
    decisions = [classify(t, settings.route_long_words) for t in titles]
    reasons: dict[str, int] = {}
    for d in decisions:
        reasons[d.reason] = reasons.get(d.reason, 0) + 1
    hard = [t for t, d in zip(titles, decisions) if d.tier == "strong"]
    return {
        "questions": len(titles),
        "fast": len(titles) - len(hard),
        "reasons": reasons,
        "hard examples": hard[:8],
    }


def run(
    settings: Settings,
    fast_model: str,
    strong_model: str,
    quick: bool,
    price: tuple[float, float] | None = None,
) -> dict:
    asked = questions(quick)
    hard_ids = {q.id for q in load_questions(HARD)}
    fast, strong = local_generator(settings, fast_model), local_generator(settings, strong_model)
    with tempfile.TemporaryDirectory(prefix="askdocs-routing-") as scratch:
        local = settings.model_copy(
            update={"data_dir": Path(scratch), "chroma_mode": "embedded", "cache_similarity": 0.0}
        )
        stack = open_retrieval(local)
        try:
            outcomes = Ingestor(stack.store, stack.embedder, stack.bm25, local).ingest_paths(
                [SAMPLE / "documents"], "bench"
            )
            assert all(o.status != "refused" for o in outcomes), outcomes
            # The fast tier alone, as routing runs it: with its own answer limit.
            fast_alone = local.model_copy(
                update={"max_answer_tokens": min(local.max_answer_tokens, local.fast_max_answer_tokens)}
            )
            pipelines = {
                "fast only": AnswerPipeline(stack.retriever, fast, fast_alone),
                "strong only": AnswerPipeline(stack.retriever, strong, local),
                "routed": AnswerPipeline(stack.retriever, strong, local, fast_generator=fast),
            }
            # Warm both models once, so neither configuration pays a model load.
            for generator in (fast, strong):
                AnswerPipeline(stack.retriever, generator, local).ask(asked[0].question, collection="bench")
            results = {}
            for name in CONFIGS:
                started = time.perf_counter()
                results[name] = evaluate_answers(pipelines[name], asked, "bench")
                print(f"  {name}: {time.perf_counter() - started:.0f} s", flush=True)
        finally:
            stack.close()
    summary = {name: summarise(results[name], hard_ids, price, strong.name) for name in CONFIGS}
    routed, baseline = summary["routed"], summary["strong only"]
    return {
        "fast": fast.name,
        "strong": strong.name,
        "questions": len(asked),
        "hard questions": sum(q.id in hard_ids for q in asked),
        "summary": summary,
        "ratios": {
            "all answers time, routed / strong only": routed["all answers s"] / baseline["all answers s"],
            "p50 latency, routed / strong only": routed["total p50 s"] / baseline["total p50 s"],
            "strong tokens, routed / strong only": (routed["strong tokens in"] + routed["strong tokens out"])
            / max(baseline["strong tokens in"] + baseline["strong tokens out"], 1),
            "correctness, routed − strong only": routed["correctness"] - baseline["correctness"],
        },
        "per_query": {name: results[name]["per_query"] for name in CONFIGS},
    }


def table(report: dict) -> str:
    keys = [
        "correctness",
        "correctness simple",
        "correctness hard",
        "citation validity",
        "abstention accuracy",
        "total p50 s",
        "total p95 s",
        "all answers s",
        "to strong",
        "strong tokens in",
        "strong tokens out",
        "strong cost USD",
    ]
    lines = ["| | " + " | ".join(CONFIGS) + " |", "|---|" + "---|" * len(CONFIGS)]
    for key in keys:
        cells = [report["summary"][c][key] for c in CONFIGS]
        if all(v is None for v in cells):
            continue
        shown = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in cells]
        lines.append(f"| {key} | " + " | ".join(shown) + " |")
    lines += ["", *(f"- {k}: {v:.3f}" for k, v in report["ratios"].items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__.split("\n")[0])
    parser.add_argument("--fast", default="pkg:smollm2-135m-instruct", help="the fast tier (a local model)")
    parser.add_argument(
        "--strong", default=None, help="the strong tier (a local model); default ASKDOCS_GENERATOR_MODEL"
    )
    parser.add_argument("--quick", action="store_true", help="1 simple, 1 hard and 1 unanswerable question")
    parser.add_argument(
        "--strong-price", default=None, help="USD per million tokens in,out for the strong tier"
    )
    parser.add_argument(
        "--faq", action="store_true", help="also show how the rule splits the Python FAQ's titles"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    quiet_libraries()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = load_settings()
    price = tuple(float(p) for p in args.strong_price.split(",")) if args.strong_price else None
    print(f"python -m bench.routing {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip())
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu_line()}, load average {os.getloadavg()[0]:.1f}"
    )
    report = run(settings, args.fast, args.strong or settings.generator_model, args.quick, price)  # type: ignore[arg-type]
    if args.faq:
        report["python faq"] = faq_split(settings)
    print(
        f"fast = {report['fast']}, strong = {report['strong']}; {report['questions']} questions, "
        f"{report['hard questions']} of them hard"
    )
    print(table(report))
    if "python faq" in report:
        faq = report["python faq"]
        print(
            f"Python FAQ titles routed to the fast tier: {faq['fast']}/{faq['questions']} ({faq['reasons']})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
