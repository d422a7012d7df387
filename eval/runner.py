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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from askdocs.runtime import Runtime
from askdocs.settings import Settings
from eval.answer_eval import GoldQuestion, Judge, Progress, evaluate_answers, load_questions
from eval.beir import BeirDataset, Source, load_beir
from eval.report import write_report
from eval.retrieval_eval import STANDARD_CONFIGS, EvalIndex, RetrievalConfig, evaluate_config, parse_config
from eval.runs import new_run, new_run_dir, save_run
from generation.generators import Generator
from retrieval.embedders import Embedder, embedder_from_settings
from retrieval.rerankers import Reranker, reranker_from_settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DOCS = ROOT / "sample_docs"


def runs_folder(settings: Settings) -> Path:
    return settings.data_dir / "eval" / "runs"


BUILT_DATASETS = {
    "smoke": "sample documents (smoke set)",
    "python-faq": "Python FAQ (python3.11-doc)",
    "zsh-faq": "Zsh FAQ, the Zsh manual as distractors (zsh-common, zsh-doc)",
}


def prepared_dataset(name: str, settings: Settings, count_tokens: Callable[[str], int] | None = None) -> Path:
    """The folder of a dataset this project builds, built on first use under DATA_DIR/eval/datasets.

    ``count_tokens`` (the configured embedder's) chunks the smoke set as the app does; without it the
    builder loads the embedder itself.
    """
    if name not in BUILT_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(BUILT_DATASETS)}")
    folder = settings.data_dir / "eval" / "datasets" / name
    if name == "smoke":
        # Rebuilt every time (seconds): it must follow the sample documents and the chunk settings.
        from eval.datasets.sample_smoke import build_sample_smoke

        build_sample_smoke(folder, settings, count_tokens)
    elif not (folder / "corpus.jsonl").exists():
        from eval.datasets import python_faq, zsh_faq

        build = {"python-faq": python_faq.build_python_faq, "zsh-faq": zsh_faq.build_zsh_faq}[name]
        build(folder, settings.data_dir / "eval" / "debs")
    return folder


@contextmanager
def _run_folder(out: Path | None, settings: Settings, kind: str, name: str) -> Iterator[Path]:
    """The run's folder; one made here is removed again when the run fails, so no half run is listed."""
    folder = out or new_run_dir(runs_folder(settings), kind, name)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        if out is None:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def default_configs(settings: Settings) -> list[str]:
    return list(STANDARD_CONFIGS) + (["default+rerank"] if settings.reranker else [])


def finish(run: dict, folder: Path) -> Path:
    save_run(run, folder)
    metrics = {name: config["metrics"] for name, config in run["configs"].items()}
    (folder / "metrics.json").write_text(
        json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
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
    reranker: Reranker | None = None,
) -> Path:
    """Evaluate retrieval configurations on a BEIR dataset; returns the run folder.

    ``embedder`` and ``reranker`` let a caller that already holds the configured models (the app) lend them.
    """
    dataset = load_beir(source, split)
    parsed = [parse_config(name, settings) for name in (configs or default_configs(settings))]
    if any(c.rerank for c in parsed):
        if not settings.reranker:
            raise ValueError("a +rerank configuration needs a reranker: set ASKDOCS_RERANKER")
        reranker = reranker or reranker_from_settings(settings)
    with _run_folder(out, settings, "retrieval", dataset.name) as folder:
        run = _evaluate_retrieval(dataset, parsed, settings, folder, embedder, reranker, progress)
        return finish(run, folder)


def _evaluate_retrieval(
    dataset: BeirDataset,
    parsed: Sequence[RetrievalConfig],
    settings: Settings,
    folder: Path,
    embedder: Embedder | None,
    reranker: Reranker | None,
    progress: Progress | None,
) -> dict:
    embedder = embedder or embedder_from_settings(settings)
    run = new_run(
        "retrieval",
        folder,
        settings,
        {
            "name": dataset.name,
            "split": dataset.split,
            "queries": len(dataset.queries),
            "documents": len(dataset.corpus),
            "dropped": vars(dataset.dropped),
        },
    )
    index = EvalIndex.open(dataset, settings, embedder, settings.data_dir / "eval" / "index", progress)
    try:
        run["extra"]["index"] = {
            "embedder": settings.embedder,
            "folder": index.folder.name,
            "build_seconds": round(index.build_seconds, 2),
            "reused": index.cached,
        }
        for config in parsed:
            run["configs"][config.name] = evaluate_config(index, dataset, config, reranker, progress)
    finally:
        index.close()
    return run


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
    reranker: Reranker | None = None,
) -> Path:
    """Index ``documents`` afresh, answer every question with the configured generator; the run folder."""
    questions = load_questions(questions_dir, limit)
    with _run_folder(out, settings, "answers", questions_dir.name) as folder:
        run = _evaluate_answers(
            questions,
            questions_dir,
            documents,
            settings,
            folder,
            judge,
            progress,
            embedder,
            generator,
            reranker,
        )
        return finish(run, folder)


def _evaluate_answers(
    questions: Sequence[GoldQuestion],
    questions_dir: Path,
    documents: Path,
    settings: Settings,
    folder: Path,
    judge: Judge | None,
    progress: Progress | None,
    embedder: Embedder | None,
    generator: Generator | None,
    reranker: Reranker | None,
) -> dict:
    scratch = folder / "index"
    # A scratch index of its own; converted models stay where the caller's settings keep them.
    local = settings.model_copy(
        update={"data_dir": scratch, "chroma_mode": "embedded", "model_cache": settings.model_cache_dir}
    )
    run = new_run(
        "answers",
        folder,
        settings,
        {
            "name": questions_dir.name,
            "split": "all",
            "queries": len(questions),
            "answerable": sum(q.answerable for q in questions),
            "documents": str(documents),
        },
    )
    runtime = Runtime(local, embedder=embedder, reranker=reranker, generator=generator)
    try:
        if progress:
            progress("indexing", 0, 1)
        outcomes = runtime.ingestor.ingest_paths([documents], "eval")
        refused = [o for o in outcomes if o.status == "refused"]
        if refused:
            raise ValueError(f"could not index {refused[0].source}: {refused[0].detail}")
        generator = runtime.generator
        name = generator.name.split(":", 1)[0]  # "local" or "api"
        # No cache and no routing: the numbers measure the configured generator on every question.
        pipeline = runtime.pipeline(cache=None, fast_generator=None)
        run["configs"][name] = evaluate_answers(pipeline, questions, "eval", judge, progress)
        run["extra"]["generator"] = generator.name
    finally:
        runtime.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return run
