"""The semantic cache alone (scripted vectors), and inside the answer pipeline over a real index.

The pipeline tests use the real store, BM25 files, ingestor and retriever in a tmp folder with a
hashing embedder (no model) and a scripted generator, so "no model call" is a count of its prompts.
The last test uses the real MiniLM embedder: a paraphrase hits, an unrelated question misses.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from askdocs.types import Answer, Principal
from generation.cache import SemanticCache, cache_from_settings
from generation.generators import GeneratorUnavailable
from generation.pipeline import AnswerPipeline, Turn
from ingest.pipeline import Ingestor
from retrieval.access import AccessDenied, CollectionPolicy
from retrieval.factory import open_retrieval
from tests.conftest import make_settings
from tests.fakes import HashingEmbedder
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.unit

ALICE = Principal("alice", ("finance",))
BOB = Principal("bob", ("sales",))


class AngleEmbedder:
    """2-d unit vectors at the angle (degrees) each text names: cos(angle difference) is the similarity."""

    dimension = 2

    def __init__(self, angles: dict[str, float]) -> None:
        self.angles = angles

    def embed(self, texts):  # noqa: ANN001, ANN201
        radians = np.radians([self.angles[t] for t in texts])
        return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def answer(text: str, **kwargs) -> Answer:  # noqa: ANN003
    return Answer("q", "q", text, (), (), False, **kwargs)


def make_cache(
    angles: dict[str, float],
    threshold: float = 0.95,
    max_entries: int = 100,
    versions: dict[str, str] | None = None,
    allowed: set[str | None] | None = None,
) -> SemanticCache:
    versions = versions if versions is not None else {}
    allows = (lambda c, p: True) if allowed is None else (lambda c, p: (p.name if p else None) in allowed)
    return SemanticCache(
        AngleEmbedder(angles), lambda c: versions.get(c, "1"), allows, threshold, max_entries
    )


def put(cache: SemanticCache, question: str, text: str, collection: str = "docs") -> None:
    assert cache.store(cache.embed(question), cache.scope(collection, None, "gen"), answer(text))


def get(
    cache: SemanticCache,
    question: str,
    collection: str = "docs",
    who: Principal | None = None,
    doc_ids=None,
    generator: str = "gen",
) -> str | None:  # noqa: ANN001
    found = cache.lookup(cache.embed(question), cache.scope(collection, doc_ids, generator), who)
    return None if found is None else found[0].text


# -- the cache alone ------------------------------------------------------------------------------
def test_a_question_at_or_above_the_threshold_hits_and_one_below_misses():
    # cos(18°) = 0.951, cos(19°) = 0.946: either side of 0.95.
    cache = make_cache({"a": 0, "near": 18, "far": 19, "opposite": 180})
    put(cache, "a", "answer A")
    assert get(cache, "a") == "answer A"
    assert get(cache, "near") == "answer A"
    assert get(cache, "far") is None and get(cache, "opposite") is None
    assert cache.stats().hits == 2 and cache.stats().misses == 2


def test_the_closest_cached_question_wins():
    cache = make_cache({"a": 0, "b": 10, "q": 8}, threshold=0.9)
    put(cache, "a", "answer A")
    put(cache, "b", "answer B")
    assert get(cache, "q") == "answer B"


def test_the_scope_must_match_collection_documents_and_generator():
    cache = make_cache({"a": 0})
    put(cache, "a", "answer A", collection="docs")
    assert get(cache, "a", collection="other") is None
    assert get(cache, "a", doc_ids=["d1"]) is None  # a question limited to some documents is another question
    assert get(cache, "a", generator="api:big") is None
    assert get(cache, "a") == "answer A"


def test_a_new_index_version_misses_and_drops_the_old_answers():
    versions = {"docs": "1"}
    cache = make_cache({"a": 0}, versions=versions)
    put(cache, "a", "old answer")
    versions["docs"] = "2"  # what an ingest or a delete does (BM25 publish)
    assert get(cache, "a") is None
    put(cache, "a", "new answer")
    assert cache.stats().entries == 1  # the version-1 answer is gone
    assert get(cache, "a") == "new answer"


def test_only_principals_the_policy_allows_get_a_cached_answer():
    allowed = {"alice"}
    cache = make_cache({"a": 0}, allowed=allowed)
    put(cache, "a", "restricted answer")
    assert get(cache, "a", who=ALICE) == "restricted answer"
    assert get(cache, "a", who=BOB) is None
    allowed.clear()  # the policy tightened after the answer was cached: honoured at once
    assert get(cache, "a", who=ALICE) is None


def test_the_least_recently_used_answer_goes_first():
    cache = make_cache({"a": 0, "b": 90, "c": 180, "d": 270}, max_entries=2)
    put(cache, "a", "A")
    put(cache, "b", "B")
    assert get(cache, "a") == "A"  # a is now the most recently used
    put(cache, "c", "C")
    assert cache.stats().entries == 2
    assert get(cache, "b") is None and get(cache, "a") == "A" and get(cache, "c") == "C"


def test_incomplete_and_already_cached_answers_are_refused():
    cache = make_cache({"a": 0})
    scope = cache.scope("docs", None, "gen")
    assert not cache.store(cache.embed("a"), scope, answer("half", incomplete=True, incomplete_reason="cut"))
    assert not cache.store(cache.embed("a"), scope, answer("copy", cached=True))
    assert cache.stats().entries == 0


def test_a_threshold_of_zero_is_refused_and_the_setting_turns_the_cache_off(tmp_path):
    with pytest.raises(ValueError, match="threshold"):
        make_cache({"a": 0}, threshold=0)
    assert cache_from_settings(None, make_settings(tmp_path, cache_similarity="off")) is None  # type: ignore[arg-type]


def test_concurrent_lookups_and_stores_keep_the_bound_and_the_counts():
    angles = {f"q{i}": float(i * 7 % 360) for i in range(64)}
    cache = make_cache(angles, threshold=0.999, max_entries=16)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for round_ in range(50):
                question = f"q{(worker * 13 + round_) % 64}"
                found = get(cache, question)
                if found is None:
                    put(cache, question, question)
                elif found != question:
                    raise AssertionError(f"{question} got another question's answer: {found}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    stats = cache.stats()
    assert stats.entries <= 16
    assert stats.hits + stats.misses == 8 * 50 and stats.hits > 0


# -- in the pipeline, over a real index -----------------------------------------------------------
SORTING = b"# Sorting\n\nThe operator module provides itemgetter() and attrgetter() for sorting by key.\n"
QUESTION = "Which module provides itemgetter and attrgetter for sorting?"


@pytest.fixture
def index(tmp_path):
    settings = make_settings(tmp_path / "data", abstain_below=0.0)
    stack = open_retrieval(settings, embedder=HashingEmbedder())
    ingestor = Ingestor(stack.store, stack.embedder, stack.bm25, settings)
    for collection in ("default", "finance"):
        assert ingestor.ingest_bytes("sorting.md", SORTING, collection).status == "ingested"
        ingestor.rebuild_bm25(collection)
    stack.store.set_policy("finance", CollectionPolicy.restricted_to(groups=["finance"]))
    try:
        yield stack, settings, ingestor
    finally:
        stack.close()


def pipeline_for(index, generator: ScriptedGenerator) -> AnswerPipeline:  # noqa: ANN001
    stack, settings, _ = index
    return AnswerPipeline(stack.retriever, generator, settings, cache_from_settings(stack, settings))


def test_a_repeated_question_is_answered_from_the_cache_without_a_model_call(index):
    generator = ScriptedGenerator("The operator module provides them [1].")
    pipeline = pipeline_for(index, generator)
    first = pipeline.ask(QUESTION)
    events = list(pipeline.stream("  " + QUESTION))
    second = events[-1]
    assert len(generator.prompts) == 1  # the model was asked once
    assert not first.cached and "cache_lookup" in first.timings
    assert second.cached and events[0] == second.text == first.text
    assert second.citations == first.citations and second.sources == first.sources
    assert second.prompt_tokens == second.completion_tokens == 0 and set(second.timings) == {
        "cache_lookup",
        "total",
    }


def test_ingesting_or_deleting_a_document_changes_the_version_and_misses(index):
    stack, _, ingestor = index
    generator = ScriptedGenerator("The operator module provides them [1].")
    pipeline = pipeline_for(index, generator)
    pipeline.ask(QUESTION)
    before = stack.bm25.current_version("default")
    ingestor.ingest_bytes("more.md", b"# More\n\nattrgetter can take several attribute names.\n", "default")
    ingestor.rebuild_bm25("default")
    assert stack.bm25.current_version("default") != before
    assert not pipeline.ask(QUESTION).cached and len(generator.prompts) == 2
    assert pipeline.ask(QUESTION).cached
    assert ingestor.delete("default", "more.md").status == "deleted"
    assert not pipeline.ask(QUESTION).cached and len(generator.prompts) == 3


class NamedReranker:
    def __init__(self, spec: str) -> None:
        self.spec = spec

    def score(self, query: str, passages: list[str]) -> list[float]:
        return [float(len(p)) for p in passages]


def test_adopting_an_adapted_reranker_misses_without_a_restart(index):
    stack, _, _ = index
    serving = {"default": NamedReranker("base")}
    stack.retriever.rerankers = serving.get  # as CollectionRerankers: the adopted model, read per search
    generator = ScriptedGenerator("The operator module provides them [1].")
    pipeline = pipeline_for(index, generator)
    pipeline.ask(QUESTION)
    assert pipeline.ask(QUESTION).cached
    serving["default"] = NamedReranker("rerankers/default/runs/20260101-000000-a")  # an adoption
    assert not pipeline.ask(QUESTION).cached and len(generator.prompts) == 2
    assert pipeline.ask(QUESTION).cached


def test_a_restricted_collections_answer_is_served_only_to_its_readers(index):
    stack, _, _ = index
    generator = ScriptedGenerator("The operator module provides them [1].")
    pipeline = pipeline_for(index, generator)
    assert not pipeline.ask(QUESTION, collection="finance", principal=ALICE).cached
    assert pipeline.ask(QUESTION, collection="finance", principal=Principal("carol", ("finance",))).cached
    with pytest.raises(AccessDenied):
        pipeline.ask(QUESTION, collection="finance", principal=BOB)
    assert not pipeline.ask(QUESTION, principal=BOB).cached  # the open collection has its own answers
    stack.store.set_policy("finance", CollectionPolicy.restricted_to(users=["root"]))
    with pytest.raises(AccessDenied):
        pipeline.ask(QUESTION, collection="finance", principal=ALICE)
    assert len(generator.prompts) == 2


def test_incomplete_stopped_and_follow_up_answers_are_not_cached(index):
    breaking = pipeline_for(
        index, ScriptedGenerator(GeneratorUnavailable("connection reset"), after="Itemgetter comes")
    )
    cut = breaking.ask(QUESTION)
    assert cut.incomplete and not breaking.ask(QUESTION).cached

    generator = ScriptedGenerator("The operator module provides them [1].")
    pipeline = pipeline_for(index, generator)
    stop = threading.Event()
    stream = pipeline.stream(QUESTION, stop=stop)
    next(stream)
    stop.set()  # the user pressed stop while the answer streamed
    assert not list(stream)[-1].cached
    history = [Turn("What sorts lists?", "sorted() does [1].")]
    follow_up = pipeline.ask("Which module provides them?", history=history)
    assert follow_up.query != follow_up.question and "cache_lookup" not in follow_up.timings
    assert not pipeline.ask("Which module provides them?", history=history).cached
    assert len(generator.prompts) == 3
    assert pipeline.ask(QUESTION).cached is False  # nothing above was kept...
    assert pipeline.ask(QUESTION).cached  # ...and a complete answer is


# -- the real embedder ----------------------------------------------------------------------------
@pytest.mark.integration
def test_with_minilm_a_paraphrase_hits_and_an_unrelated_question_misses(embedder):
    versions = {"docs": "1"}
    cache = SemanticCache(embedder, lambda c: versions[c], lambda c, p: True, threshold=0.95)
    scope = cache.scope("docs", None, "gen")
    cache.store(cache.embed("What does the list.sort() method return?"), scope, answer("None [1]."))
    found = cache.lookup(cache.embed("What does the list.sort() method return"), scope, None)
    assert found is not None and found[0].text == "None [1]." and found[1] >= 0.95
    assert cache.lookup(cache.embed("What is the maximum size of an SQLite database?"), scope, None) is None
    assert cache.lookup(cache.embed("What does the sorted() function return?"), scope, None) is None
