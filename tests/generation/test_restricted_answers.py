"""A restricted collection's text never reaches another user's prompt or answer, even when quoted.

The generator here is scripted and keeps every prompt it was given: what a model could repeat is
exactly what is in its prompt, so "not in any prompt" is the strongest form of "never in an answer".
The retrieval is real (embedder, embedded Chroma, BM25); the real model's answers are tested elsewhere.
"""

from __future__ import annotations

import pytest

from askdocs.types import Answer, Principal
from generation.pipeline import AnswerPipeline
from ingest.pipeline import Ingestor
from retrieval.access import AccessDenied, CollectionPolicy
from retrieval.factory import open_retrieval
from tests.conftest import SAMPLE_DOCS, make_settings
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.integration

SECRET = (
    "Project Nightjar budget memo. The Nightjar budget for 2027 is 4.2 million euros, "
    "approved by the board on 3 March. Only the finance group may read this memo."
)
QUOTING = (
    "The Nightjar budget for 2027 is 4.2 million euros, approved by the board on 3 March: is that right?"
)
ALICE = Principal("alice", ("finance",))
BOB = Principal("bob", ("sales",))


@pytest.fixture(scope="module")
def indexed(embedder, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("restricted")
    # Never abstain: every question reaches the (scripted) model, so its prompt shows what was retrieved.
    settings = make_settings(tmp_path / "data", abstain_below=-1.0)
    stack = open_retrieval(settings, embedder=embedder)
    ingestor = Ingestor(stack.store, stack.embedder, stack.bm25, settings)
    ingestor.ingest_paths([SAMPLE_DOCS], "public")
    memo = tmp_path / "nightjar_memo.md"
    memo.write_text(SECRET, encoding="utf-8")
    ingestor.ingest_paths([memo], "finance")
    stack.store.set_policy("finance", CollectionPolicy.restricted_to(groups=["finance"]))
    try:
        yield stack, settings
    finally:
        stack.close()


@pytest.fixture
def pipeline_parts(indexed):
    stack, settings = indexed
    generator = ScriptedGenerator("I can only answer from the sources [1].")
    return AnswerPipeline(stack.retriever, generator, settings), generator


def prompt_text(generator: ScriptedGenerator) -> str:
    return "\n".join(m["content"] for messages in generator.prompts for m in messages)


def test_quoting_restricted_text_in_an_open_collection_brings_none_of_it(pipeline_parts):
    pipeline, generator = pipeline_parts
    for who in (BOB, Principal.anonymous()):
        answer = pipeline.ask(QUOTING, collection="public", principal=who)
        assert isinstance(answer, Answer)
        assert answer.sources and all(hit.chunk.collection == "public" for hit in answer.sources)
        assert "Nightjar" not in answer.text
    assert len(generator.prompts) == 2  # both questions reached the model, with public passages only
    assert "4.2 million" not in prompt_text(generator).replace(QUOTING, "")  # only the question itself
    assert "approved by the board" not in prompt_text(generator).replace(QUOTING, "")


def test_asking_the_restricted_collection_itself_is_refused_before_any_model_call(pipeline_parts):
    pipeline, generator = pipeline_parts
    for who in (BOB, Principal.anonymous()):
        with pytest.raises(AccessDenied):
            pipeline.ask(QUOTING, collection="finance", principal=who)
    assert generator.prompts == []


def test_a_member_gets_the_memo_into_the_prompt(pipeline_parts):
    """The check above can fail: for a member, the same question does bring the memo."""
    pipeline, generator = pipeline_parts
    answer = pipeline.ask(QUOTING, collection="finance", principal=ALICE)
    assert any("Nightjar" in hit.chunk.text for hit in answer.sources)
    assert "approved by the board on 3 March" in prompt_text(generator).replace(QUOTING, "")
