"""Routing by need: the rule alone, then inside the answer pipeline over a real index (scripted tiers).

The pipeline tests count each scripted generator's prompts, so "went to the fast model" and "reached
no model" are facts about calls, not about labels. The real pair of models is run by
tests/bench/test_routing_bench.py.
"""

from __future__ import annotations

import json

import pytest

from generation.cache import cache_from_settings
from generation.generators import fast_generator_from_settings
from generation.generators.openai import OpenAICompatibleGenerator
from generation.pipeline import AnswerPipeline, Turn
from generation.prompt import NOT_FOUND
from generation.routing import classify, tier_label
from ingest.pipeline import Ingestor
from retrieval.factory import open_retrieval
from tests.conftest import ROOT, make_settings
from tests.fakes import HashingEmbedder
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.unit

SIMPLE = [
    "What does the list.sort() method return?",
    "Which function does Python provide to turn a comparison function into a key function?",  # a noun, not a comparison
    "How many writers does SQLite allow at the same time?",
    "Why is the Internet Protocol moving from version 4 to version 6?",
    "Which module provides the itemgetter() and attrgetter() functions?",  # "and" joins names, not questions
]
HARD = {
    "Compare list.sort() with sorted().": "comparison",
    "What is the difference between token_hex() and token_urlsafe()?": "comparison",
    "Should I use SQLite instead of PostgreSQL for a busy website?": "comparison",
    "What are the pros and cons of dictionaries in zstd?": "comparison",
    "What does sort() return? And does sorted() copy?": "several questions",
    "How many readers does SQLite allow, and what happens to writers that arrive together?": "several questions",
    "Explain how Zstandard's training mode works.": "asks for an explanation",
    "How do I build a network from an address, step by step?": "asks for an explanation",
}


def test_short_factual_questions_are_simple():
    for question in SIMPLE:
        assert classify(question) == classify(question.upper())  # case does not matter
        assert classify(question).tier == "fast", question


def test_comparisons_multi_part_questions_and_explanations_are_hard_and_say_why():
    for question, reason in HARD.items():
        decision = classify(question)
        assert (decision.tier, decision.reason) == ("strong", reason), question


def test_a_long_question_is_hard_at_the_configured_length():
    question = " ".join(["word"] * 12) + "?"
    assert classify(question, long_words=13).tier == "fast"
    assert classify(question, long_words=12) == classify(question, long_words=5)
    assert classify(question, long_words=12).reason == "long question"


def test_the_sample_questions_are_all_simple():
    # The product's own smoke questions are the short factual kind the fast tier is for.
    rows = [
        json.loads(line)
        for line in (ROOT / "sample_docs" / "questions.jsonl").read_text().splitlines()
        if line
    ]
    assert rows and all(classify(r["question"]).tier == "fast" for r in rows)


def test_the_label_shown_with_an_answer():
    assert tier_label("fast", "short factual question") == "fast model (short factual question)"
    assert tier_label("", "") == ""


# -- the fast tier from settings ------------------------------------------------------------------
def test_no_fast_model_means_no_routing(tmp_path):
    assert fast_generator_from_settings(make_settings(tmp_path)) is None


def test_an_api_fast_tier_shares_the_api_settings_but_names_its_own_model(tmp_path):
    settings = make_settings(
        tmp_path,
        fast_generator_backend="openai",
        fast_generator_model="small-model",
        api_base_url="http://127.0.0.1:9/v1",
        api_model="big-model",
    )
    fast = fast_generator_from_settings(settings)
    assert isinstance(fast, OpenAICompatibleGenerator)
    assert fast.name == "api:small-model@http://127.0.0.1:9/v1"


# -- in the pipeline, over a real index -----------------------------------------------------------
SORTING = (
    b"# Sorting\n\nThe operator module provides itemgetter() and attrgetter() for sorting by key. "
    b"list.sort() sorts in place and returns None, while sorted() builds a new sorted list.\n"
)


@pytest.fixture
def tiers(tmp_path):
    settings = make_settings(tmp_path / "data", abstain_below=0.2)
    stack = open_retrieval(settings, embedder=HashingEmbedder())
    ingestor = Ingestor(stack.store, stack.embedder, stack.bm25, settings)
    assert ingestor.ingest_bytes("sorting.md", SORTING, "default").status == "ingested"
    ingestor.rebuild_bm25("default")
    fast = ScriptedGenerator("The operator module [1].", name="local:fast")
    strong = ScriptedGenerator(
        "sort() returns None and sorted() returns a new list [1].", name="local:strong"
    )
    pipeline = AnswerPipeline(
        stack.retriever, strong, settings, cache_from_settings(stack, settings), fast_generator=fast
    )
    try:
        yield pipeline, fast, strong
    finally:
        stack.close()


def test_a_simple_question_goes_to_the_fast_model_and_a_hard_one_to_the_strong_one(tiers):
    pipeline, fast, strong = tiers
    simple = pipeline.ask("Which module provides itemgetter for sorting?")
    assert (len(fast.prompts), len(strong.prompts)) == (1, 0)
    assert (simple.tier, simple.tier_reason, simple.backend) == (
        "fast",
        "short factual question",
        "local:fast",
    )
    hard = pipeline.ask("What is the difference between list.sort() and sorted() for sorting?")
    assert (len(fast.prompts), len(strong.prompts)) == (1, 1)
    assert (hard.tier, hard.tier_reason, hard.backend) == ("strong", "comparison", "local:strong")
    assert hard.citations and hard.citations[0].source == "sorting.md"
    assert (fast.limits, strong.limits) == ([96], [256])  # simple questions get the fast tier's short limit


def test_cached_and_abstained_questions_reach_neither_model(tiers):
    pipeline, fast, strong = tiers
    first = pipeline.ask("Which module provides itemgetter for sorting?")
    again = pipeline.ask("which module provides itemgetter for sorting")
    off_topic = pipeline.ask("When was the Eiffel tower painted brown?")
    assert (len(fast.prompts), len(strong.prompts)) == (1, 0)
    assert again.cached and again.tier == first.tier == "fast"  # the tier that answered it first
    assert off_topic.text == NOT_FOUND and off_topic.tier == ""


def test_the_rule_reads_the_question_not_the_search_joined_to_history(tiers):
    pipeline, fast, strong = tiers
    history = [Turn("What is the difference between list.sort() and sorted()?", "sort() returns None [1].")]
    follow_up = pipeline.ask("Which one returns None?", history=history)
    assert follow_up.query != follow_up.question  # the search leaned on the comparison ...
    assert follow_up.tier == "fast" and len(fast.prompts) == 1  # ... the question itself is simple


def test_changing_either_tier_or_the_rule_is_another_cache_scope(tiers):
    pipeline, fast, strong = tiers
    names = {pipeline.generators_name}
    names.add(
        AnswerPipeline(
            pipeline.retriever,
            strong,
            pipeline.settings,
            fast_generator=ScriptedGenerator("x", name="local:other"),
        ).generators_name
    )
    names.add(
        AnswerPipeline(
            pipeline.retriever,
            strong,
            pipeline.settings.model_copy(update={"route_long_words": 9}),
            fast_generator=fast,
        ).generators_name
    )
    names.add(
        AnswerPipeline(
            pipeline.retriever,
            strong,
            pipeline.settings.model_copy(update={"fast_max_answer_tokens": 32}),
            fast_generator=fast,
        ).generators_name
    )
    names.add(AnswerPipeline(pipeline.retriever, strong, pipeline.settings).generators_name)
    assert len(names) == 5 and "local:strong" in names  # without a fast tier: the generator's own name
