"""``python -m eval``: retrieval and answer evaluations, run listings and comparisons.

python -m eval retrieval (--beir DIR_OR_ZIP | --dataset NAME) [--split test] [--configs bm25,...] [--out DIR]
python -m eval answers [--questions sample_docs] [--limit N] [--out OUTDIR] [--judge-url URL --judge-model M]
python -m eval embedders --beir DIR_OR_ZIP [--split test] [--embedders SPEC,...] [--out OUTDIR]
python -m eval compare RUN_A RUN_B
python -m eval runs
python -m eval build python-faq|zsh-faq|smoke --out DIR
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from askdocs.quiet import quiet_libraries
from askdocs.settings import Settings

# The builder of each name in eval.runner.BUILT_DATASETS (imported only when used: runner loads models)
BUILDERS = {
    "python-faq": "eval.datasets.python_faq",
    "zsh-faq": "eval.datasets.zsh_faq",
    "smoke": "eval.datasets.sample_smoke",
}
_printed_tenths: dict[str, int] = {}


def _progress(stage: str, done: int, total: int) -> None:
    """A live counter on a terminal; on a pipe, a line each time a stage passes another tenth."""
    if sys.stderr.isatty():
        print(f"\r{stage}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)
        return
    tenth = 10 * done // total if total else 10
    if tenth > _printed_tenths.get(stage, -1):
        _printed_tenths[stage] = tenth
        print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)


def _print_metrics(folder: Path) -> None:
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    names = sorted({m for values in metrics.values() for m in values})
    width = max(len(c) for c in metrics) + 2
    print("config".ljust(width) + "  ".join(f"{n:>14}" for n in names))
    for config, values in metrics.items():
        cells = ("n/a" if values.get(n) is None else f"{values[n]:.4f}" for n in names)
        print(config.ljust(width) + "  ".join(f"{c:>14}" for c in cells))
    print(f"report: {folder / 'report.html'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    retrieval = commands.add_parser("retrieval", help="score retriever configurations on a BEIR dataset")
    source = retrieval.add_mutually_exclusive_group(required=True)
    source.add_argument("--beir", type=Path, help="a BEIR folder or zip")
    source.add_argument(
        "--dataset",
        choices=BUILDERS,
        help="a benchmark this project builds, built on first use under DATA_DIR/eval/datasets",
    )
    retrieval.add_argument("--split", default="test")
    retrieval.add_argument("--configs", help="comma-separated names (default: the standard set)")
    retrieval.add_argument(
        "--out", type=Path, help="the run folder (default: a new one under DATA_DIR/eval/runs)"
    )
    answers = commands.add_parser("answers", help="answer questions with gold answers, and unanswerable ones")
    answers.add_argument(
        "--questions", type=Path, default=None, help="folder with questions.jsonl (default: sample_docs)"
    )
    answers.add_argument(
        "--documents", type=Path, default=None, help="the documents to index (default: QUESTIONS/documents)"
    )
    answers.add_argument("--limit", type=int, help="only the first N answerable and N unanswerable questions")
    answers.add_argument("--out", type=Path)
    answers.add_argument(
        "--judge-url",
        help="an OpenAI-compatible base URL for an optional judge model "
        "(its key, if it needs one, in ASKDOCS_JUDGE_API_KEY)",
    )
    answers.add_argument("--judge-model", default="judge")
    embedders = commands.add_parser("embedders", help="compare embedders: quality, indexing speed, memory")
    embedders.add_argument("--beir", required=True, type=Path)
    embedders.add_argument("--split", default="test")
    embedders.add_argument("--embedders", help="comma-separated specs (default: every offline one)")
    embedders.add_argument("--out", type=Path)
    compare = commands.add_parser("compare", help="metric deltas between two runs")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    commands.add_parser("runs", help="list the stored runs, newest first")
    build = commands.add_parser("build", help="build a benchmark dataset in BEIR format")
    build.add_argument("dataset", choices=BUILDERS)
    build.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    quiet_libraries()
    from eval import runner

    try:
        settings = Settings()
        if args.command == "retrieval":
            configs = [c.strip() for c in args.configs.split(",") if c.strip()] if args.configs else None
            dataset = args.beir or runner.prepared_dataset(args.dataset, settings)
            _print_metrics(runner.run_retrieval(dataset, settings, args.split, configs, args.out, _progress))
        elif args.command == "answers":
            from eval.judge import OpenAICompatibleJudge

            questions = args.questions or runner.SAMPLE_DOCS
            # A key never goes on the command line (shell history, process list): it comes from the environment.
            key = os.environ.get("ASKDOCS_JUDGE_API_KEY", "not-needed")
            judge = OpenAICompatibleJudge(args.judge_url, args.judge_model, key) if args.judge_url else None
            folder = runner.run_answers(
                settings,
                questions,
                args.documents or questions / "documents",
                args.limit,
                args.out,
                judge,
                _progress,
            )
            _print_metrics(folder)
        elif args.command == "embedders":
            from eval.embedders import OFFLINE_EMBEDDERS, compare_embedders

            specs = (
                [e.strip() for e in args.embedders.split(",") if e.strip()]
                if args.embedders
                else OFFLINE_EMBEDDERS
            )
            run, folder = compare_embedders(args.beir, settings, specs, args.split, args.out, _progress)
            _print_metrics(runner.finish(run, folder))
            for row in run["extra"]["embedders"]:
                print("  ".join(f"{key}: {value}" for key, value in row.items()))
        elif args.command == "compare":
            from eval.compare import compare_runs, comparison_warnings, format_comparison
            from eval.runs import load_run

            a, b = (load_run(r, runner.runs_folder(settings)) for r in (args.run_a, args.run_b))
            print(format_comparison(compare_runs(a, b), comparison_warnings(a, b)))
        elif args.command == "runs":
            from eval.runs import list_runs

            for summary in list_runs(runner.runs_folder(settings)):
                print(summary)
        else:
            return _build(args.dataset, args.out)
    except (ValueError, RuntimeError, OSError) as error:  # bad input, a locked store, a missing model or file
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _build(dataset: str, out: Path) -> int:
    return importlib.import_module(BUILDERS[dataset]).main(["--out", str(out)])


if __name__ == "__main__":
    sys.exit(main())
