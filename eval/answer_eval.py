"""Answer evaluation: the real answer pipeline over questions with gold answers, and unanswerable ones.

A question set is a folder with ``questions.jsonl`` (id, question, answer, source, page) and,
optionally, ``unanswerable.jsonl`` (id, question): ``sample_docs/`` is one. Each question goes
through :class:`AnswerPipeline` exactly as in the app; the streamed pieces are kept, because
citation validity and groundedness are measured on the model's raw output (see answer_metrics).

A judge model is optional. When one is set and fails on a question, the failure is counted and
shown in the run's notes; the judge metric is computed over the questions it did grade, and is
None (never NaN) when it graded none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from askdocs.types import Answer
from eval.answer_metrics import citation_precision, citation_validity, correctness, groundedness, mean_of
from eval.metrics import latency_summary
from generation.pipeline import AnswerPipeline

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    answer: str = ""  # empty for an unanswerable question
    source: str = ""
    page: int = 0

    @property
    def answerable(self) -> bool:
        return bool(self.answer)


class Judge(Protocol):
    name: str

    def grade(self, question: str, gold: str, answer: str) -> bool: ...


def load_questions(folder: Path, limit: int | None = None) -> list[GoldQuestion]:
    """The answerable questions, then the unanswerable ones; ``limit`` keeps the first N of each."""

    def read(name: str) -> list[GoldQuestion]:
        path = folder / name
        if not path.exists():
            return []
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append(
                    GoldQuestion(
                        str(row["id"]),
                        row["question"],
                        row.get("answer", ""),
                        row.get("source", ""),
                        int(row.get("page", 0)),
                    )
                )
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a question record ({error})") from error
        return rows[:limit] if limit else rows

    answerable = [q for q in read("questions.jsonl") if q.answerable]
    if not answerable:
        raise ValueError(f"{folder / 'questions.jsonl'} holds no question with a gold answer")
    return answerable + [GoldQuestion(q.id, q.question) for q in read("unanswerable.jsonl")]


def _ask(pipeline: AnswerPipeline, question: str, collection: str) -> tuple[str, Answer]:
    pieces: list[str] = []
    for event in pipeline.stream(question, collection):
        if isinstance(event, Answer):
            return "".join(pieces), event
        pieces.append(event)
    raise RuntimeError("the pipeline ended without an answer")


def evaluate_answers(
    pipeline: AnswerPipeline,
    questions: Sequence[GoldQuestion],
    collection: str,
    judge: Judge | None = None,
    progress: Progress | None = None,
) -> dict:
    """Ask every question; the run.json entry (metrics, latencies, per-query detail) for this generator."""
    per_query: dict[str, dict] = {}
    ttft, total, notes, judge_errors = [], [], [], []
    for done, gold in enumerate(questions, 1):
        raw, answer = _ask(pipeline, gold.question, collection)
        sources = [h.chunk.text for h in answer.sources]
        row: dict = {
            "question": gold.question,
            "answer": answer.text,
            "gold": gold.answer or "(unanswerable)",
            "answerable": gold.answerable,
            "abstained": answer.abstained,
            "abstention_correct": answer.abstained != gold.answerable,
            "cited": [f"{c.source}, {c.page_label}" for c in answer.citations],
            "retrieved": [
                {
                    "id": h.chunk.chunk_id,
                    "title": f"{h.chunk.source} {h.chunk.page_label}",
                    "relevant": h.chunk.source == gold.source
                    and h.chunk.page_start <= gold.page <= h.chunk.page_end,
                    "score": round(h.score, 6),
                }
                for h in answer.sources
            ],
            "tokens_in": answer.prompt_tokens,
            "tokens_out": answer.completion_tokens,
            "backend": answer.backend,
            "tier": answer.tier,
        }
        if gold.answerable:
            row["correctness"] = correctness(answer.text, gold.answer)
            row["citation_validity"] = None if answer.abstained else citation_validity(raw, len(sources))
            row["citation_precision"] = citation_precision(
                [(c.source, c.page_start, c.page_end) for c in answer.citations], gold.source, gold.page
            )
            row["groundedness"] = None if answer.abstained else groundedness(answer.text, sources)
            row["groundedness_raw"] = None if answer.abstained else groundedness(raw, sources)
            if judge is not None:
                try:
                    row["judge_correct"] = float(judge.grade(gold.question, gold.answer, answer.text))
                except Exception as error:  # noqa: BLE001 - any judge failure is counted and reported
                    judge_errors.append(f"{gold.id}: {type(error).__name__}: {error}"[:200])
        if "first_token" in answer.timings:
            ttft.append(1000 * answer.timings["first_token"])
            row["ttft_ms"] = ttft[-1]
        total.append(1000 * answer.timings["total"])
        row["total_ms"] = total[-1]
        per_query[gold.id] = row
        if progress:
            progress("answers", done, len(questions))

    rows = list(per_query.values())
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    ttft_summary, total_summary = latency_summary(ttft) if ttft else {}, latency_summary(total)
    metrics = {
        "correctness": mean_of([r["correctness"] for r in answerable]),
        "citation_validity": mean_of([r["citation_validity"] for r in answerable]),
        "citation_precision": mean_of([r["citation_precision"] for r in answerable]),
        "groundedness": mean_of([r["groundedness"] for r in answerable]),
        "groundedness_raw": mean_of([r["groundedness_raw"] for r in answerable]),
        "abstention_accuracy": mean_of([float(r["abstention_correct"]) for r in rows]),
        "answered_when_answerable": mean_of([float(not r["abstained"]) for r in answerable]),
        "abstained_when_unanswerable": mean_of([float(r["abstained"]) for r in unanswerable]),
        "ttft_p50_ms": ttft_summary.get("p50"),
        "ttft_p95_ms": ttft_summary.get("p95"),
        "total_p50_ms": total_summary["p50"],
        "total_p95_ms": total_summary["p95"],
        "tokens_in_mean": mean_of([float(r["tokens_in"]) for r in rows]),
        "tokens_out_mean": mean_of([float(r["tokens_out"]) for r in rows]),
    }
    if judge is not None:
        metrics["judge_correctness"] = mean_of([r.get("judge_correct") for r in answerable])
        metrics["judge_failures"] = float(len(judge_errors))
        if judge_errors:
            notes.append(
                f"judge {judge.name} failed on {len(judge_errors)} of {len(answerable)} questions; "
                f"judge_correctness covers the rest. First: {judge_errors[0]}"
            )
    for name, value in metrics.items():
        if value is None:
            notes.append(f"{name}: n/a (no question produced a value)")
    return {
        "description": f"answer pipeline with {pipeline.generators_name}",
        "metrics": metrics,
        "latencies_ms": {"ttft": ttft, "total": total},
        "per_query": per_query,
        "notes": notes,
    }
