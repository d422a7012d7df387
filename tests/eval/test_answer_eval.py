"""The answer evaluation over the sample documents: scripted generators for the arithmetic, the real model once."""

from __future__ import annotations

import json

import pytest

from eval.answer_eval import load_questions
from eval.judge import JudgeError, OpenAICompatibleJudge
from eval.runner import SAMPLE_DOCS, run_answers
from generation.generators import generator_from_settings
from tests.conftest import make_settings
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.integration


class BrokenJudge:
    name = "broken"

    def grade(self, question: str, gold: str, answer: str) -> bool:
        raise TimeoutError("no reply in 60 s")


def test_questions_load_answerable_first_then_unanswerable():
    questions = load_questions(SAMPLE_DOCS, limit=2)
    assert [q.id for q in questions] == ["q1", "q2", "u1", "u2"]
    assert [q.answerable for q in questions] == [True, True, False, False]


def test_a_scripted_run_scores_citations_on_the_raw_reply_and_reports_a_failing_judge(tmp_path, embedder):
    reply = "The operator module provides them [1]. It also sorts [7]."
    folder = run_answers(
        make_settings(tmp_path / "data"),
        limit=2,
        out=tmp_path / "run",
        judge=BrokenJudge(),
        embedder=embedder,
        generator=ScriptedGenerator(reply),
    )
    run = json.loads((folder / "run.json").read_text())
    config = run["configs"]["scripted"]
    q2 = config["per_query"]["q2"]
    assert not q2["abstained"]
    assert q2["correctness"] == 1.0
    assert q2["citation_validity"] == 0.5  # [7] names no source the model was given
    assert q2["cited"] and all(c.startswith("python_sorting_howto.pdf") for c in q2["cited"])
    metrics = config["metrics"]
    assert metrics["judge_correctness"] is None and metrics["judge_failures"] == 2.0
    assert any("failed on 2 of 2" in note and "TimeoutError" in note for note in config["notes"])
    # u1 (PostgreSQL) is far from every sample document, so the app abstains before generating; u2 (zstd's
    # default level) is close to the zstd README, so the scripted reply is given: 3 right of 4.
    assert (config["per_query"]["u1"]["abstained"], config["per_query"]["u2"]["abstained"]) == (True, False)
    assert metrics["abstention_accuracy"] == 0.75
    assert not (folder / "index").exists()  # the scratch index is gone
    assert "NaN" not in (folder / "run.json").read_text()
    assert (folder / "report.html").exists()


def test_the_judge_talks_to_a_real_openai_compatible_server(llama_server):
    judge = OpenAICompatibleJudge(llama_server, "smollm2")
    try:
        verdict = judge.grade("What does list.sort() return?", "None", "It returns None.")
    except JudgeError as error:  # a 135M model may not keep to one word; then it says what it replied
        assert "replied" in str(error)
    else:
        assert isinstance(verdict, bool)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("reply", "verdict"), [("CORRECT", True), (" incorrect.", False), ("Correct!", True)]
)
def test_judge_verdicts_are_parsed_strictly(monkeypatch, reply, verdict):
    judge = OpenAICompatibleJudge("http://127.0.0.1:9/v1", "m")

    class Reply:
        choices = [type("C", (), {"message": type("M", (), {"content": reply})()})()]

    monkeypatch.setattr(judge._client.chat.completions, "create", lambda **kwargs: Reply())  # noqa: SLF001
    assert judge.grade("q", "g", "a") is verdict


@pytest.mark.unit
def test_a_rambling_judge_is_an_error_not_a_guess(monkeypatch):
    judge = OpenAICompatibleJudge("http://127.0.0.1:9/v1", "m")

    class Reply:
        choices = [type("C", (), {"message": type("M", (), {"content": "Well, mostly correct"})()})()]

    monkeypatch.setattr(judge._client.chat.completions, "create", lambda **kwargs: Reply())  # noqa: SLF001
    with pytest.raises(JudgeError, match="mostly correct"):
        judge.grade("q", "g", "a")


@pytest.mark.slow
def test_the_smoke_answer_evaluation_with_the_real_default_model(tmp_path, embedder):
    """The CI smoke of the answer evaluation: one answerable and one unanswerable question, the real model."""
    settings = make_settings(tmp_path / "data")
    folder = run_answers(
        settings,
        limit=1,
        out=tmp_path / "run",
        embedder=embedder,
        generator=generator_from_settings(settings),
    )
    metrics = json.loads((folder / "metrics.json").read_text())["local"]
    run = json.loads((folder / "run.json").read_text())
    assert run["extra"]["generator"] == f"local:{settings.generator_model}"
    assert metrics["abstained_when_unanswerable"] == 1.0  # PostgreSQL's port is in no sample document
    assert metrics["answered_when_answerable"] == 1.0
    assert metrics["ttft_p50_ms"] > 0 and metrics["tokens_out_mean"] > 0
    for name in ("metrics-quality.png", "latency-distribution.png", "report.html", "report.md"):
        assert (folder / name).stat().st_size > 0, name
