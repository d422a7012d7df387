"""The hybrid retriever over real sample documents, the real embedder and embedded Chroma."""

from __future__ import annotations

import pytest

from ingest.pipeline import Ingestor
from retrieval.bm25 import tokenize
from retrieval.factory import open_retrieval
from retrieval.hybrid import HybridConfig, HybridRetriever, names_code
from tests.conftest import SAMPLE_DOCS, make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory, embedder):
    settings = make_settings(tmp_path_factory.mktemp("hybrid"))
    stack = open_retrieval(settings, embedder=embedder)
    Ingestor(stack.store, stack.embedder, stack.bm25, settings).ingest_paths([SAMPLE_DOCS])
    yield stack
    stack.close()


def retriever(stack, reranker=None, **config) -> HybridRetriever:  # noqa: ANN001, ANN003
    return HybridRetriever(stack.store, stack.embedder, stack.bm25, HybridConfig(**config), reranker)


def test_every_hit_carries_its_rank_and_score_at_each_stage(stack):
    result = retriever(stack, top_k=5).retrieve("Schwartzian transform decorate sort undecorate", "default")
    assert len(result.hits) == 5
    top = result.hits[0]
    assert top.chunk.source == "python_sorting_howto.pdf" and top.chunk.page_start == 3
    assert {s.stage for s in top.stages} == {"bm25", "dense", "fused"}
    assert top.stage("fused").rank == 1 and top.stage("bm25").rank >= 1
    assert [h.stage("fused").rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert result.hits[0].score >= result.hits[-1].score
    assert 0.0 < result.best_dense_similarity <= 1.0
    assert {"bm25", "embed_query", "dense", "fuse"} <= set(result.timings)
    best_bm25 = next(h for h in result.hits if h.stage("bm25") and h.stage("bm25").rank == 1)
    terms = set(tokenize(result.query))
    assert result.keyword_coverage == len(terms & set(tokenize(best_bm25.chunk.text))) / len(terms)
    assert result.keyword_coverage >= 0.6  # the page that answers holds most of the question's words


def test_a_zero_weight_retriever_is_not_run(stack):
    bm25_only = retriever(stack, dense_weight=0.0).retrieve("zstd dictionary training", "default")
    assert all({s.stage for s in h.stages} == {"bm25", "fused"} for h in bm25_only.hits)
    assert bm25_only.best_dense_similarity is None and "dense" not in bm25_only.timings
    dense_only = retriever(stack, bm25_weight=0.0).retrieve("zstd dictionary training", "default")
    assert all({s.stage for s in h.stages} == {"dense", "fused"} for h in dense_only.hits)
    with pytest.raises(ValueError):
        HybridConfig(bm25_weight=0.0, dense_weight=0.0)


def test_filters_by_document_and_collection(stack):
    docs = {d.source: d.doc_id for d in stack.store.documents("default")}
    only = retriever(stack).retrieve("how to sort", "default", doc_ids=[docs["zstd_README.md"]])
    assert only.hits and {h.chunk.source for h in only.hits} == {"zstd_README.md"}
    assert retriever(stack).retrieve("how to sort", "no-such-collection").hits == ()


def test_reranker_reorders_the_fused_candidates(stack):
    class ByLength:  # a deterministic stand-in; the real CrossEncoder is exercised below
        def score(self, query, passages):  # noqa: ANN001, ANN201
            return [float(len(p)) for p in passages]

    result = retriever(stack, ByLength(), rerank_candidates=10, top_k=3).retrieve("sorting keys", "default")
    lengths = [len(h.chunk.text) for h in result.hits]
    assert lengths == sorted(lengths, reverse=True)
    assert all(h.stage("rerank").rank == i for i, h in enumerate(result.hits, 1))
    assert all(h.stage("fused") is not None for h in result.hits)


def test_only_the_top_candidates_are_reranked_and_the_rest_keep_their_fused_order(stack):
    scored: list[int] = []

    class Reversing:
        def score(self, query, passages):  # noqa: ANN001, ANN201
            scored.append(len(passages))
            return [float(i) for i in range(len(passages))]  # the last of the head comes first

    plain = retriever(stack, top_k=8).retrieve("sorting keys", "default")
    reranked = retriever(stack, Reversing(), rerank_candidates=3, top_k=8).retrieve("sorting keys", "default")
    assert scored == [3]
    ids = [h.chunk.chunk_id for h in plain.hits]
    assert [h.chunk.chunk_id for h in reranked.hits] == ids[2::-1] + ids[3:]
    assert [h.stage("rerank") is not None for h in reranked.hits] == [True] * 3 + [False] * 5


def test_with_rrf_fusion_a_reranker_lifts_a_candidate_but_cannot_bury_retrievals_first(stack):
    class Reversing:
        def score(self, query, passages):  # noqa: ANN001, ANN201
            return [float(i) for i in range(len(passages))]  # the reranker's order is the reverse

    ids = [h.chunk.chunk_id for h in retriever(stack, top_k=5).retrieve("sorting keys", "default").hits]
    fused = retriever(stack, Reversing(), rerank_candidates=5, top_k=5, rerank_fusion="rrf", rrf_k=1)
    hits = fused.retrieve("sorting keys", "default").hits
    # 1/(1+r) + 1/(1+6-r) for retrieval ranks r = 1..5 is 0.67, 0.53, 0.5, 0.53, 0.67: the ends tie and
    # ties keep retrieval's order.
    assert [h.chunk.chunk_id for h in hits] == [ids[0], ids[4], ids[1], ids[3], ids[2]]
    assert [h.stage("rerank").rank for h in hits] == [5, 1, 4, 2, 3]  # the reranker's own ranks, kept
    assert hits[0].score == pytest.approx(1 / 2 + 1 / 6)


@pytest.mark.slow
def test_a_real_cross_encoder_path_loads_and_scores(stack, tmp_path):
    from sentence_transformers import CrossEncoder

    from askdocs.models import resolve_embedder
    from retrieval.rerankers.cross_encoder import CrossEncoderReranker

    # No cross-encoder weights ship offline; a CrossEncoder built on the MiniLM transformer (untrained
    # head) is a real model folder, enough to check that loading, scoring and the stage work.
    CrossEncoder(resolve_embedder("pkg:all-minilm-l6-v2"), num_labels=1).save(str(tmp_path / "ce"))
    reranker = CrossEncoderReranker(str(tmp_path / "ce"), device="cpu", max_length=128)
    scores = reranker.score("sorting", ["Sorting HOW TO", "zstd levels", "secrets"])
    assert len(scores) == 3 and len(set(scores)) == 3
    result = retriever(stack, reranker, top_k=4).retrieve("sorting keys", "default")
    assert [h.stage("rerank").rank for h in result.hits] == [1, 2, 3, 4]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("Which module provides itemgetter() and attrgetter()?", True),
        ("What does list.sort() return?", True),
        ("How do I use token_urlsafe?", True),
        ("Is getAttribute slow?", True),
        ("How many writers does SQLite allow at the same time?", False),
        ("What is the Decorate-Sort-Undecorate idiom?", False),
        ("Why is it so slow... really?", False),
        ("Does it work on macOS, e.g. with an eBay listing, i.e. in the U.S.?", False),
        ("How do I install from python.org?", True),
    ],
)
def test_queries_naming_code_are_recognised(query, names):
    assert names_code(query) is names


@pytest.mark.unit
def test_a_query_naming_code_gets_the_code_weight_for_bm25():
    config = HybridConfig(bm25_weight=0.05, bm25_weight_code=1.0)
    assert config.bm25_weight_for("What does list.sort() return?") == 1.0
    assert config.bm25_weight_for("How many writers does SQLite allow?") == 0.05
    assert HybridConfig(bm25_weight=0.05, bm25_weight_code=None).bm25_weight_for("list.sort()") == 0.05


def test_the_code_weight_lifts_an_exact_name_that_dense_search_ranks_low(stack):
    question = "Which module provides the itemgetter() and attrgetter() functions used for sorting?"
    plain = retriever(stack, bm25_weight=0.05, bm25_weight_code=None).retrieve(question, "default")
    coded = retriever(stack, bm25_weight=0.05, bm25_weight_code=1.0).retrieve(question, "default")
    best_bm25 = stack.bm25.get("default").search(question, 1)[0].chunk_id
    assert coded.hits[0].chunk.chunk_id == best_bm25
    assert plain.hits[0].chunk.chunk_id != best_bm25  # dense search alone puts another chunk first


@pytest.mark.unit
def test_a_config_that_could_search_nothing_is_refused():
    with pytest.raises(ValueError, match="naming code must be positive"):
        HybridConfig(bm25_weight=1.0, dense_weight=0.0, bm25_weight_code=0.0)
