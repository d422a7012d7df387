"""Restricted collections: enforced by the retriever itself, for every query."""

from __future__ import annotations

import pytest

from askdocs.types import Principal
from ingest.pipeline import Ingestor
from retrieval.access import AccessDenied, CollectionPolicy
from retrieval.factory import open_retrieval
from tests.conftest import SAMPLE_DOCS

ALICE = Principal("alice", ("finance",))
BOB = Principal("bob", ("sales",))
ADMIN = Principal("root", is_admin=True)


@pytest.mark.unit
@pytest.mark.parametrize(
    "policy,principal,allowed",
    [
        (CollectionPolicy(), Principal.anonymous(), True),
        (CollectionPolicy.restricted_to(users=["alice"]), ALICE, True),
        (CollectionPolicy.restricted_to(users=["alice"]), BOB, False),
        (CollectionPolicy.restricted_to(groups=["sales"]), BOB, True),
        (CollectionPolicy.restricted_to(groups=["sales"]), ALICE, False),
        (CollectionPolicy.restricted_to(groups=["sales"]), Principal.anonymous(), False),
        (CollectionPolicy.restricted_to(users=["alice"]), ADMIN, True),
        (CollectionPolicy.restricted_to(users=["alice"]), None, True),  # the local operator
        (CollectionPolicy.restricted_to(users=[" ", ""]), BOB, True),  # blank names restrict nothing
    ],
)
def test_policy_decisions(policy, principal, allowed):
    assert policy.allows(principal) is allowed


@pytest.mark.unit
def test_policy_round_trips_through_metadata():
    policy = CollectionPolicy.restricted_to(["b", "a"], ["g"])
    assert CollectionPolicy.from_metadata(policy.to_metadata()) == policy
    assert CollectionPolicy.from_metadata(None) == CollectionPolicy()


@pytest.mark.integration
def test_retriever_refuses_a_restricted_collection_even_when_the_question_quotes_it(settings, embedder):
    stack = open_retrieval(settings, embedder=embedder)
    try:
        Ingestor(stack.store, stack.embedder, stack.bm25, settings).ingest_paths([SAMPLE_DOCS], "finance")
        stack.store.set_policy("finance", CollectionPolicy.restricted_to(groups=["finance"]))
        quote = "Another name for this idiom is Schwartzian transform"
        with pytest.raises(AccessDenied):
            stack.retriever.retrieve(quote, "finance", principal=BOB)
        with pytest.raises(AccessDenied):
            stack.retriever.retrieve(quote, "finance", principal=Principal.anonymous())
        assert stack.retriever.retrieve(quote, "finance", principal=ALICE).hits
        assert stack.retriever.retrieve(quote, "finance", principal=ADMIN).hits
        stack.store.set_policy("finance", CollectionPolicy())
        assert stack.retriever.retrieve(quote, "finance", principal=BOB).hits
        assert stack.store.count("finance") > 0  # the policy change kept the collection's data
    finally:
        stack.close()
