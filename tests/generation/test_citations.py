import pytest

from generation.citations import check_citations

pytestmark = pytest.mark.unit

SOURCES = [
    "The sort method modifies the list in place and returns None.",
    "The secrets module generates cryptographically strong random numbers for tokens.",
]


def test_valid_citations_are_kept_and_listed_in_order():
    checked = check_citations("Tokens come from secrets [2]. Sorting returns None [1].", SOURCES)
    assert checked.cited == (2, 1)
    assert checked.removed_markers == 0 and checked.unsupported == ()


def test_invalid_numbers_are_removed_and_the_sentence_reattributed():
    checked = check_citations("The sort method returns None [7].", SOURCES)
    assert checked.text == "The sort method returns None [1]."
    assert checked.removed_markers == 1
    assert checked.cited == (1,)


def test_mixed_and_variant_markers():
    checked = check_citations("Strong random tokens come from secrets [Source 2, 5].", SOURCES)
    assert checked.text == "Strong random tokens come from secrets [2]."
    assert checked.removed_markers == 1


def test_uncited_sentence_with_no_matching_source_is_flagged():
    checked = check_citations("Bananas are yellow fruit grown in the tropics.", SOURCES)
    assert checked.cited == ()
    assert checked.unsupported == ("Bananas are yellow fruit grown in the tropics.",)


def test_abstention_is_recognised_and_needs_no_citation():
    checked = check_citations(
        "I don't know: the documents do not contain the answer to this question.", SOURCES
    )
    assert checked.abstained and checked.unsupported == () and checked.cited == ()


def test_no_sources_means_every_claim_is_unsupported():
    checked = check_citations("Sorting returns None [1].", [])
    assert checked.cited == () and checked.removed_markers == 1
    assert checked.unsupported == ("Sorting returns None.",)


@pytest.mark.parametrize(
    "text,abstained",
    [
        ("The sources do not contain this information.", True),
        ("This is not mentioned in the provided documents.", True),
        ("The sort method does not contain a key by default [1].", False),
        ("A set does not contain duplicates [1].", False),
    ],
)
def test_only_real_abstentions_count(text, abstained):
    assert check_citations(text, SOURCES).abstained is abstained
