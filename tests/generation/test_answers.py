"""The whole pipeline with the real default models: sample questions get answers citing the right page."""

from __future__ import annotations

import json

import pytest

from askdocs.types import Answer
from generation.generators.transformers import TransformersGenerator
from generation.pipeline import AnswerPipeline, Turn
from generation.prompt import NOT_FOUND
from ingest.pipeline import Ingestor
from retrieval.factory import open_retrieval
from tests.conftest import MODEL_CACHE, ROOT, SAMPLE_DOCS, make_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTIONS = [json.loads(line) for line in (ROOT / "sample_docs" / "questions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, embedder):
    settings = make_settings(tmp_path_factory.mktemp("answers"))
    stack = open_retrieval(settings, embedder=embedder)
    Ingestor(stack.store, stack.embedder, stack.bm25, settings).ingest_paths([SAMPLE_DOCS])
    generator = TransformersGenerator(settings.generator_model, MODEL_CACHE, device="cpu")
    yield AnswerPipeline(stack.retriever, generator, settings)
    stack.close()


@pytest.mark.parametrize("question", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
def test_sample_question_cites_the_right_document_and_page(pipeline, question):
    events = list(pipeline.stream(question["question"]))
    answer = events[-1]
    assert isinstance(answer, Answer)
    assert "".join(e for e in events[:-1]).strip(), "the answer text is streamed before the Answer"
    assert not answer.abstained, answer.text
    right = [
        c
        for c in answer.citations
        if c.source == question["source"] and c.page_start <= question["page"] <= c.page_end
    ]
    assert right, f"cited {[(c.source, c.page_start) for c in answer.citations]} for {answer.text!r}"
    for c in answer.citations:  # every citation points at a source that was actually given
        assert answer.sources[c.number - 1].chunk.chunk_id == c.chunk_id
        assert f"[{c.number}]" in answer.text
    assert answer.timings["first_token"] <= answer.timings["total"]
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0


def test_a_question_far_from_every_document_is_not_answered(pipeline):
    answer = pipeline.ask("Qu'est-ce que la photosynthèse chez les fougères tropicales ?")
    assert answer.abstained and answer.text == NOT_FOUND and answer.citations == ()


def test_a_follow_up_question_searches_with_the_previous_one(pipeline):
    first = QUESTIONS[0]
    answer = pipeline.ask("Why does it do that?", history=[Turn(first["question"], "None")])
    assert first["question"] in answer.query
    assert answer.sources and answer.sources[0].chunk.source == first["source"]
