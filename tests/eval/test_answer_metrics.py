"""The offline answer metrics on hand-checked cases, including the cases their docstring admits they get wrong."""

from __future__ import annotations

import pytest

from eval.answer_metrics import (
    citation_precision,
    citation_validity,
    correctness,
    groundedness,
    mean_of,
)

pytestmark = pytest.mark.unit

PASSAGES = [
    "The list.sort() method modifies the list in place and returns None.",
    "The operator module has itemgetter(), attrgetter() and methodcaller().",
]


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("The operator module provides them [1].", "The operator module", 1.0),
        ("It returns None.", "None", 1.0),
        ("It returns a new sorted list.", "None", 0.0),
        ("The functools module.", "The operator module", 0.5),  # "module" matches, "operator" does not
        ("The lists are sorted.", "sorting the list", 1.0),  # stemmed: sort, list
    ],
)
def test_correctness_is_the_share_of_gold_words_found(answer, gold, expected):
    assert correctness(answer, gold) == pytest.approx(expected)


def test_correctness_refuses_an_empty_gold_answer():
    with pytest.raises(ValueError, match="no words"):
        correctness("anything", "  ")


def test_citation_validity_counts_markers_pointing_at_given_sources():
    assert citation_validity("A [1]. B [2]. C [7].", 2) == pytest.approx(2 / 3)
    assert citation_validity("A [1, 3].", 2) == pytest.approx(0.5)
    assert citation_validity("No markers at all.", 2) is None


def test_citation_precision_compares_document_and_page_with_the_gold_ones():
    cited = [("howto.pdf", 2, 2), ("howto.pdf", 3, 3), ("other.md", 1, 1)]
    assert citation_precision(cited, "howto.pdf", 2) == pytest.approx(1 / 3)
    assert citation_precision([("howto.pdf", 1, 3)], "howto.pdf", 2) == 1.0  # a chunk spanning pages
    assert citation_precision([], "howto.pdf", 2) is None


def test_groundedness_needs_the_cited_passage_to_hold_the_sentence():
    supported = "The sort method returns None [1]."
    wrong_source = "The operator module has itemgetter [1]."
    uncited = "The operator module has itemgetter."
    assert groundedness(supported, PASSAGES) == 1.0
    assert groundedness(wrong_source, PASSAGES) == 0.0
    assert groundedness(uncited, PASSAGES) == 0.0
    assert groundedness(f"{supported} {wrong_source.replace('[1]', '[2]')}", PASSAGES) == 1.0
    assert groundedness(f"{supported} {uncited}", PASSAGES) == 0.5
    assert groundedness("[1]", PASSAGES) is None


def test_groundedness_cannot_see_negation_as_documented():
    assert groundedness("The sort method does not return None [1].", PASSAGES) == 1.0


def test_mean_of_skips_missing_values_and_never_returns_nan():
    assert mean_of([1.0, None, 0.0]) == 0.5
    assert mean_of([None, None]) is None
