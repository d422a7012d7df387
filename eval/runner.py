"""Whole evaluation runs, as the CLI and the app's Evaluate page start them.

A run folder ends up with ``run.json`` (settings, git revision, every configuration's metrics and
per-query detail), ``metrics.json`` (configuration -> metrics, the stable contract for scripts)
and the report with its plots. The eval never touches the app's store: retrieval runs index into
``DATA_DIR/eval/index/<corpus fingerprint>`` (kept, reused), answer runs into a folder of the run
(deleted afterwards).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from askdocs.settings import Settings
from eval.answer_eval import Judge, Progress, evaluate_answers, load_questions
from eval.beir import Source, load_beir
from eval.report import write_report
from eval.retrieval_eval import STANDARD_CONFIGS, EvalIndex, evaluate_config, parse_config
from eval.runs import new_run, new_run_dir, save_run
from generation.backends import Generator, generator_from_settings
from generation.pipeline import AnswerPipeline
from ingest.pipeline import Ingestor
from retrieval.embedder import Embedder, embedder_from_settings
from retrieval.factory import open_retrieval
from retrieval.rerank import CrossEncoderReranker

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DOCS = ROOT / "sample_docs"


def runs_folder(settings: Settings) -> Path:
    return settings.data_dir / "eval" / "runs"


BUILT_DATASETS = {"smoke": "sample documents (smoke set)", "python-faq": "Python FAQ (python3.11-doc)"}


def prepared_dataset(name: str, settings: Settings) -> Path:
    """The folder of a dataset this project builds, built on first use under DATA_DIR/eval/datasets."""
    if name not in BUILT_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(BUILT_DATASETS)}")
    folder = settings.data_dir / "eval" / "datasets" / name
    if not (folder / "corpus.jsonl").exists():
        if name == "smoke":
            from eval.datasets import sample_smoke

            status = sample_smoke.main(["--out", str(folder)])
        else:
            from eval.datasets import python_faq

            status = python_faq.main(["--out", str(folder), "--cache", str(settings.data_dir / "eval" / "debs")])
        if status != 0:
            raise RuntimeError(f"building the {BUILT_DATASETS[name]} dataset failed; see the server log")
    return folder


def default_configs(settings: Settings) -> list[str]:
    return list(STANDARD_CONFIGS) + (["default+rerank"] if settings.reranker else [])


def finish(run: dict, folder: Path) -> Path:
    save_run(run, folder)
    metrics = {name: config["metrics"] for name, config in run["configs"].items()}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_report(run, folder)
    return folder


def run_retrieval(
    source: Source,
    settings: Settings,
    split: str = "test",
    configs: Sequence[str] | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> Path:
    """Evaluate retrieval configurations on a BEIR dataset; returns the run folder.

    ``embedder`` lets a caller that already holds the configured model (the app) lend it.
    """
    dataset = load_beir(source, split)
    parsed = [parse_config(name, settings) for name in (configs or default_configs(settings))]
    reranker = None
    if any(c.rerank for c in parsed):
        if not settings.reranker:
            raise ValueError("a +rerank configuration needs a reranker: set ASKDOCS_RERANKER")
        reranker = CrossEncoderReranker(settings.reranker, settings.device)
    folder = out or new_run_dir(runs_folder(settings), "retrieval", dataset.name)
    folder.mkdir(parents=True, exist_ok=True)
    embedder = embedder or embedder_from_settings(settings)
    run = new_run("retrieval", folder, settings, {
        "name": dataset.name, "split": dataset.split, "queries": len(dataset.queries),
        "documents": len(dataset.corpus), "source": str(source) if isinstance(source, (str, Path)) else "(upload)",
        "dropped": vars(dataset.dropped),
    })
    index = EvalIndex.open(dataset, settings, embedder, settings.data_dir / "eval" / "index", progress)
    try:
        run["extra"]["index"] = {"embedder": settings.embedder, "folder": index.folder.name,
                                 "build_seconds": round(index.build_seconds, 2), "reused": index.cached}
        for config in parsed:
            run["configs"][config.name] = evaluate_config(index, dataset, config, reranker, progress)
    finally:
        index.close()
    return finish(run, folder)


def run_answers(
    settings: Settings,
    questions_dir: Path = SAMPLE_DOCS,
    documents: Path = SAMPLE_DOCS / "documents",
    limit: int | None = None,
    out: Path | None = None,
    judge: Judge | None = None,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
) -> Path:
    """Index ``documents`` afresh, answer every question with the configured generator; the run folder."""
    questions = load_questions(questions_dir, limit)
    folder = out or new_run_dir(runs_folder(settings), "answers", questions_dir.name)
    folder.mkdir(parents=True, exist_ok=True)
    scratch = folder / "index"
    local = settings.model_copy(update={"data_dir": scratch, "chroma_mode": "embedded"})
    run = new_run("answers", folder, settings, {
        "name": questions_dir.name, "split": "all", "queries": len(questions),
        "answerable": sum(q.answerable for q in questions), "documents": str(documents),
    })
    stack = open_retrieval(local, embedder or embedder_from_settings(settings))
    try:
        if progress:
            progress("indexing", 0, 1)
        outcomes = Ingestor(stack.store, stack.embedder, stack.bm25, local).ingest_paths([documents], "eval")
        refused = [o for o in outcomes if o.status == "refused"]
        if refused:
            raise ValueError(f"could not index {refused[0].source}: {refused[0].detail}")
        generator = generator or generator_from_settings(settings)
        name = generator.name.split(":", 1)[0]  # "local" or "api"
        pipeline = AnswerPipeline(stack.retriever, generator, local)
        run["configs"][name] = evaluate_answers(pipeline, questions, "eval", judge, progress)
        run["extra"]["generator"] = generator.name
    finally:
        stack.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return finish(run, folder)
