"""Adapt the reranker to one indexed collection, with questions our local generator writes.

``python -m tuning.adapt [--collection NAME] [--questions N] [--steps N] [--held-out-share F]``

The steps, all local: sample passages of the collection; have the local generator write one question
per passage; split the questions into training and held-out ones; take each question's candidates from
the collection's own hybrid retriever (no reranker), the source passage as the positive and the other
candidates as hard negatives; measure MRR@10 and nDCG@10 of the source passage on the held-out
questions for the retrieval order and the base reranker; fine-tune with ``train_reranker.train``;
measure the adapted model the same way; save it (``retrieval.rerankers.per_collection``) and adopt it only if it ranks
reliably better than both baselines (the rule: ``tuning.adoption``).

Design choices:
- Samples and the split use salted sha256 orders of chunk ids, so a rerun on the same index picks the
  same passages and the same held-out slice whatever the store's iteration order.
- Questions are written and cleaned by ``tuning.questions``, which the reranker's training
  data shares: a question is dropped (and counted) when it is empty, is not a question, echoes its
  passage, is off topic or repeats an earlier one.
- A candidate with the source passage's text (a duplicate chunk) is never a negative. Held-out passages
  are not trained on at all, not even as negatives.
- The base for fine-tuning is ``ASKDOCS_RERANKER`` when set, else MiniLM's transformer with a new head,
  as ``train_reranker`` starts; the adapted model is measured through ``CrossEncoderReranker``, the class
  that serves it at query time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from askdocs.settings import Settings
from askdocs.types import Chunk
from retrieval.hybrid import HybridConfig, HybridRetriever
from retrieval.rerankers import load_reranker, per_collection
from retrieval.rerankers.cross_encoder import CrossEncoderReranker
from retrieval.stores import VectorStore
from tuning.adoption import Case, Scores, adopt_if_better, case_scores, mean_scores, reranked
from tuning.questions import Ask
from tuning.questions import norm as _norm
from tuning.questions import write_questions as _write_questions
from tuning.reranker_data import TrainingGroup
from tuning.synthetic import CacheInUse, ReplyCache
from tuning.train_reranker import BASE, held_out_ids, train

if TYPE_CHECKING:
    from generation.generators import Generator
    from retrieval.factory import RetrievalStack

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # stage, done, total: as app.eval_jobs reports
SALT = "adapt-v1:"
# A new head must learn to rank at all; a trained base must not drift: on the Zsh manual's real FAQ
# questions (dev split) 2e-5 lost 0.113 nDCG@10 against the base and 5e-6 0.001 (docs/evaluation.md).
NEW_HEAD_LR, BASE_LR = 5e-5, 5e-6
REPLY_CACHE = "question-replies.jsonl"  # the generator's raw replies, by passage, generator and prompt


@dataclass(frozen=True)
class AdaptResult:
    collection: str
    run: str
    folder: Path
    adopted: bool
    reason: str
    counts: dict[str, int]
    dropped: dict[str, int]  # questions dropped, by reason
    before: dict[str, Scores | None]  # "retrieval" and "base_reranker" (None: no base reranker)
    after: Scores
    parameters: dict[str, object]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**asdict(self), "folder": str(self.folder)}


def _hash(text: str) -> str:
    return hashlib.sha256((SALT + text).encode("utf-8")).hexdigest()


def sample_chunks(store: VectorStore, collection: str, count: int, min_chars: int = 200) -> list[Chunk]:
    """Up to ``count`` chunks of at least ``min_chars`` with distinct texts, in salted-hash order."""
    ids = sorted(store.chunk_ids(collection), key=_hash)
    chosen: list[Chunk] = []
    seen: set[str] = set()
    page = 4 * max(1, count)  # fetched a page at a time: a big index is never read whole
    for start in range(0, len(ids), page):
        for chunk in store.get_chunks(collection, ids[start : start + page]):
            if len(chunk.text) >= min_chars and _norm(chunk.text) not in seen and len(chosen) < count:
                seen.add(_norm(chunk.text))
                chosen.append(chunk)
        if len(chosen) >= count:
            break
    return chosen


def write_questions(
    ask: Ask, chunks: Sequence[Chunk], progress: Progress
) -> tuple[list[tuple[str, Chunk]], Counter[str]]:
    """One cleaned question per chunk where the generator managed one; the rest counted by reason."""
    kept, reasons = _write_questions(
        ask, [c.text for c in chunks], lambda done, total: progress("writing questions", done, total)
    )
    return [(question, chunks[n]) for question, n in kept], reasons


def hard_negatives(source: Chunk, candidates: Sequence[Chunk], count: int) -> list[Chunk]:
    """The first ``count`` candidates whose text differs from the source's and from each other's."""
    out: list[Chunk]
    seen, out = {_norm(source.text)}, []
    for chunk in candidates:
        if _norm(chunk.text) not in seen and len(out) < count:
            seen.add(_norm(chunk.text))
            out.append(chunk)
    return out


def training_groups(cases: Sequence[Case], held: set[str], negatives: int) -> list[TrainingGroup]:
    """A group per training case (not held out) with ``negatives`` hard negatives; cases with fewer go.

    A held-out question's passage is never a negative either: trained as one, it would learn to score
    low whatever the question, and the held-out measure would punish the model for it.
    """
    groups = []
    for case in cases:
        usable = [c for c in case.candidates if c.chunk_id not in held]
        chosen = hard_negatives(case.source, usable, negatives)
        if case.source.chunk_id not in held and len(chosen) == negatives:
            groups.append(
                TrainingGroup(
                    case.question,
                    case.source.chunk_id,
                    "synthetic",
                    case.source.text,
                    tuple(c.text for c in chosen),
                    case.source.chunk_id,
                    tuple(c.chunk_id for c in chosen),
                )
            )
    return groups


def _write_questions_file(
    path: Path, cases: Sequence[Case], held: set[str], groups: Sequence[TrainingGroup]
) -> None:
    trained = {g.query_id: g.negative_ids for g in groups}
    with open(path, "w", encoding="utf-8") as out:
        for case in cases:
            split = "held-out" if case.source.chunk_id in held else "train"
            row = {
                "question": case.question,
                "chunk_id": case.source.chunk_id,
                "source": case.source.source,
                "split": split,
                "negatives": list(trained.get(case.source.chunk_id, ())),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def adapt(
    settings: Settings,
    collection: str,
    questions: int = 200,
    steps: int = 100,
    held_out_share: float = 0.25,
    *,
    stack: RetrievalStack | None = None,
    generator: Generator | None = None,
    max_length: int = 128,
    negatives: int = 3,
    min_held_out: int = 20,
    seed: int = 12,
    lr: float | None = None,
    progress: Progress | None = None,
) -> AdaptResult:
    """Fine-tune a reranker on ``collection`` and adopt it if it wins on the held-out questions.

    ``stack`` and ``generator`` are lent by a caller that holds them (the app); otherwise they are
    opened from ``settings``. The generator is always a local one: nothing leaves the machine.
    ``lr``: the learning rate (default ``NEW_HEAD_LR`` from a new head, ``BASE_LR`` from a trained base).

    Raises:
        ValueError: no such collection, or too few usable questions to train and measure.
    """
    from retrieval.factory import open_retrieval

    if not 0 < held_out_share < 1:
        raise ValueError("the held-out share must be between 0 and 1")
    report = progress or (lambda stage, done, total: None)
    own_stack = stack is None
    stack = stack or open_retrieval(settings)
    seconds: dict[str, float] = {}
    mark = [time.perf_counter()]

    def lap(name: str) -> None:  # the seconds since the previous lap
        now = time.perf_counter()
        seconds[name], mark[0] = round(now - mark[0], 1), now

    try:
        report("sampling passages", 0, 1)
        if collection not in stack.store.collections():
            raise ValueError(f"no collection {collection!r}")
        chunks = sample_chunks(stack.store, collection, questions)
        if generator is None:
            from generation.generators import local_generator_from_settings

            generator = local_generator_from_settings(settings)
        lap("load")
        folder = per_collection.collection_dir(settings.data_dir / "rerankers", collection)
        with ReplyCache(folder / REPLY_CACHE, generator) as replies:  # a rerun asks only for new passages
            written, dropped = write_questions(replies.ask, chunks, report)
        lap("questions")
        held = held_out_ids((c.chunk_id for _, c in written), round(held_out_share * len(written)), SALT)
        base = stack.retriever.reranker  # ASKDOCS_RERANKER, or None; never an adapted model
        config = HybridConfig.from_settings(settings)
        plain = HybridRetriever(stack.store, stack.embedder, stack.bm25, config)
        depth = config.rerank_candidates
        cases = []
        for n, (question, chunk) in enumerate(written, 1):
            hits = plain.retrieve(question, collection, k=max(depth, 10)).hits
            cases.append(Case(question, chunk, tuple(h.chunk for h in hits)))
            report("retrieving candidates", n, len(written))
        lap("retrieve")
        held_cases = [c for c in cases if c.source.chunk_id in held]
        groups = training_groups(cases, held, negatives)
        if not groups or not held_cases:
            raise ValueError(
                f"too few usable questions ({len(written)} written, {sum(dropped.values())} "
                "dropped) to train and measure; index more text or ask for more questions"
            )
        report("measuring before", 0, 1)
        per_case = {
            "retrieval": case_scores(held_cases, lambda c: c.candidates),
            "base_reranker": case_scores(held_cases, reranked(base, config)) if base else None,
        }
        before = {name: None if cases is None else mean_scores(cases) for name, cases in per_case.items()}
        lap("measure_before")
        with per_collection.staging(folder) as tmp:
            rate = lr or (NEW_HEAD_LR if base is None else BASE_LR)
            args = argparse.Namespace(
                out=tmp,
                max_steps=steps,
                max_length=max_length,
                groups_per_step=4,
                negatives=negatives,
                lr=rate,
                seed=seed,
                freeze_embeddings=True,
                time_budget_min=0,
                log_every=max(10, steps // 5),
            )
            training = train(
                groups,
                args,
                base=getattr(base, "spec", None),
                progress=lambda step, total: report("fine-tuning", step, total),
            )
            lap("train")
            report("measuring after", 0, 1)
            after_cases = case_scores(
                held_cases, reranked(CrossEncoderReranker(str(tmp), "cpu", max_length), config)
            )
            after = mean_scores(after_cases)
            lap("measure_after")
            adopt, reason = adopt_if_better(after_cases, per_case, min_held_out)
            run = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{_hash(str(time.time()))[:6]}"
            _write_questions_file(tmp / "questions.jsonl", cases, held, groups)
            counts = {
                "chunks": stack.store.count(collection),
                "passages": len(chunks),
                "questions": len(written),
                "train_questions": len(cases) - len(held_cases),
                "held_out_questions": len(held_cases),
                "train_groups": len(groups),
                "steps": training["steps"],
                "pairs_seen": training["pairs_seen"],
            }
            parameters = {
                "base": getattr(base, "spec", None) or f"{BASE} (new head)",
                "generator": getattr(generator, "name", "?"),
                "questions": questions,
                "steps": steps,
                "held_out_share": held_out_share,
                "max_length": max_length,
                "negatives": negatives,
                "min_held_out": min_held_out,
                "seed": seed,
                "lr": args.lr,
                "loss_first_10": training["loss_first_10"],
                "loss_last_10": training["loss_last_10"],
            }
            result = AdaptResult(
                collection,
                run,
                folder / "runs" / run,
                adopt,
                reason,
                counts,
                dict(dropped),
                before,
                after,
                parameters,
                seconds,
            )
            per_collection.publish(tmp, folder, run, result.to_dict(), adopt, max_length)
        if adopt and settings.reranker_backend != "torch":
            report("converting the model for ONNX", 0, 1)
            _convert_for_serving(result.folder, settings, max_length)
        report("finished", 1, 1)
        return result
    finally:
        if own_stack:
            stack.close()


def _convert_for_serving(folder: Path, settings: Settings, max_length: int) -> None:
    """Export an adopted model for the ONNX backend now, so the first search after adoption need not.

    The export is cached by folder in the model cache; one that fails here fails again at query time,
    where the base reranker then serves, so it is logged rather than raised: the model is adopted already.
    """
    try:
        load_reranker(str(folder), settings, max_length)
    except Exception as error:  # noqa: BLE001
        log.warning(
            "the adopted reranker %s could not be converted for %s: %s: %s",
            folder,
            settings.reranker_backend,
            type(error).__name__,
            error,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuning.adapt", description=__doc__.split("\n")[0])
    parser.add_argument("--collection", help="default: ASKDOCS_DEFAULT_COLLECTION")
    parser.add_argument("--questions", type=int, default=200, help="passages to write a question for")
    parser.add_argument("--steps", type=int, default=100, help="training steps (4 questions each)")
    parser.add_argument("--held-out-share", type=float, default=0.25)
    parser.add_argument("--max-length", type=int, default=128, help="tokens of question + passage")
    parser.add_argument("--min-held-out", type=int, default=20, help="fewer held-out: never adopted")
    parser.add_argument(
        "--lr", type=float, help="learning rate (default 5e-5 from a new head, 5e-6 from a base)"
    )
    args = parser.parse_args(argv)

    from askdocs.quiet import quiet_libraries
    from askdocs.settings import load_settings
    from retrieval.stores import StoreLocked, StoreUnavailable

    quiet_libraries()
    settings = load_settings()
    shown: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        if not shown or shown[-1] != stage:
            shown.append(stage)
            print(f"{stage}…", file=sys.stderr, flush=True)

    try:
        result = adapt(
            settings,
            args.collection or settings.default_collection,
            args.questions,
            args.steps,
            args.held_out_share,
            max_length=args.max_length,
            min_held_out=args.min_held_out,
            lr=args.lr,
            progress=progress,
        )
    except (StoreLocked, StoreUnavailable, CacheInUse, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    print(f"{'adopted' if result.adopted else 'not adopted'}: {result.reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
