"""The answer pipeline's own logic, with a scripted generator and a fixed retriever (no models)."""

from __future__ import annotations

import pytest

from askdocs.types import Answer, Chunk, RetrievedChunk
from generation.pipeline import AnswerPipeline, Turn, quote, standalone_query
from generation.prompt import NOT_FOUND
from retrieval.hybrid import Retrieval
from tests.conftest import make_settings
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.unit

PASSAGES = [
    ("sort.pdf", 2, "The sort method modifies the list in place. It returns None to avoid confusion."),
    ("secrets.html", 1, "The secrets module generates strong random tokens for passwords."),
]


class FixedRetriever:
    def __init__(self, similarity: float, keyword_coverage: float | None = None) -> None:
        self.similarity = similarity
        self.keyword_coverage = keyword_coverage
        self.queries: list[str] = []

    def retrieve(self, query, collection, k=None, doc_ids=None, principal=None) -> Retrieval:  # noqa: ANN001
        self.queries.append(query)
        hits = tuple(
            RetrievedChunk(Chunk(f"c{i}", f"d{i}", src, collection, "v", 0, text, page, page), 1.0 / (i + 1))
            for i, (src, page, text) in enumerate(PASSAGES)
        )
        return Retrieval(query, hits, self.similarity, {"bm25": 0.001}, self.keyword_coverage)


def run(  # noqa: ANN003
    reply: str, similarity: float = 0.8, coverage: float | None = None, **kwargs
) -> tuple[list, Answer, ScriptedGenerator]:
    generator = ScriptedGenerator(reply)
    pipeline = AnswerPipeline(FixedRetriever(similarity, coverage), generator, make_settings("/tmp/unused"))
    events = list(pipeline.stream("What does sort return?", **kwargs))
    return events[:-1], events[-1], generator


def test_streams_then_returns_a_checked_answer_with_citations():
    pieces, answer, _ = run("Sort returns None [1]. Also bananas [9].")
    assert "".join(pieces).strip() == "Sort returns None [1]. Also bananas [9]."
    assert answer.text == "Sort returns None [1]. Also bananas."
    assert [(c.number, c.source, c.page_start) for c in answer.citations] == [(1, "sort.pdf", 2)]
    assert answer.citations[0].snippet.startswith("It returns None")
    assert answer.unsupported_sentences == ("Also bananas.",)
    assert not answer.abstained and answer.backend == "scripted"
    assert {"retrieve", "first_token", "generate", "total"} <= set(answer.timings)


def test_uncited_sentence_is_attributed_to_the_overlapping_source():
    _, answer, _ = run("The secrets module generates strong random tokens.")
    assert [c.source for c in answer.citations] == ["secrets.html"]
    assert answer.text.endswith("[2].")


def test_low_retrieval_confidence_abstains_without_calling_the_model():
    pieces, answer, generator = run("anything", similarity=0.01)
    assert pieces == [NOT_FOUND] and answer.text == NOT_FOUND and answer.abstained
    assert generator.prompts == [] and answer.citations == ()


def test_keywords_found_by_bm25_overrule_a_low_dense_similarity():
    # e.g. "Which module provides itemgetter?": MiniLM scores it 0.30, BM25 finds every keyword.
    _, answer, generator = run("Sort returns None [1].", similarity=0.01, coverage=0.8)
    assert not answer.abstained and generator.prompts
    _, answer, generator = run("Sort returns None [1].", similarity=0.01, coverage=0.3)
    assert answer.abstained and not generator.prompts


def test_model_saying_it_does_not_know_is_an_abstention():
    _, answer, _ = run(NOT_FOUND)
    assert answer.abstained and answer.citations == ()


def test_empty_question_is_refused():
    pipeline = AnswerPipeline(FixedRetriever(0.9), ScriptedGenerator("x"), make_settings("/tmp/unused"))
    with pytest.raises(ValueError):
        pipeline.ask("   ")


def test_follow_ups_lean_on_the_previous_question_and_new_topics_do_not():
    history = [Turn("How do I sort a list of tuples?", "Use sorted.")]
    assert standalone_query("Is it stable?", history) == "How do I sort a list of tuples? Is it stable?"
    assert standalone_query("What port does PostgreSQL use by default?", history) == (
        "What port does PostgreSQL use by default?"
    )
    assert standalone_query("Is it stable?", []) == "Is it stable?"


def test_quote_picks_the_sentence_that_matches_the_answer():
    text = "Intro sentence here. The secrets module makes tokens. Unrelated closing words."
    assert quote(text, "tokens come from the secrets module").startswith("The secrets module makes tokens.")
