import pytest

from askdocs.types import Page, ParsedDocument
from ingest.chunking import TextPiece, TokenChunker, make_chunks

pytestmark = pytest.mark.unit


def words(text: str) -> int:
    return len(text.split())


def test_chunks_respect_the_token_size_and_overlap():
    text = " ".join(f"w{i}." for i in range(300))
    pieces = TokenChunker(words, chunk_tokens=50, overlap_tokens=10).split(ParsedDocument((Page(1, text),)))
    assert all(words(p.text) <= 50 for p in pieces)
    assert len(pieces) >= 6
    first, second = pieces[0].text.split(), pieces[1].text.split()
    assert first[-10:] == second[:10]  # the overlap repeats the end of the previous chunk
    assert {p.page_start for p in pieces} == {1}


def test_chunks_never_cross_pages_but_short_pages_merge_into_a_span():
    long_page = " ".join(["alpha"] * 60)
    doc = ParsedDocument(
        (
            Page(1, "Title page"),
            Page(2, long_page),
            Page(3, long_page.replace("alpha", "beta")),
            Page(4, "   "),
        ),
        paginated=True,
    )
    pieces = TokenChunker(words, chunk_tokens=100, overlap_tokens=0).split(doc)
    assert [(p.page_start, p.page_end) for p in pieces] == [(1, 2), (3, 3)]
    assert pieces[0].text.startswith("Title page")
    assert "beta" not in pieces[0].text and "alpha" not in pieces[1].text


def test_make_chunks_assigns_positions_and_ids():
    chunks = make_chunks(
        [TextPiece("a b", 1, 1), TextPiece("c d", 2, 3)],
        doc_id="d",
        source="s.pdf",
        collection="default",
        version="v",
    )
    assert [c.position for c in chunks] == [0, 1]
    assert chunks[1].page_label == "pp. 2-3" and chunks[0].page_label == "p. 1"
    assert chunks[0].chunk_id != chunks[1].chunk_id


def test_rejects_overlap_not_smaller_than_size():
    with pytest.raises(ValueError):
        TokenChunker(words, chunk_tokens=10, overlap_tokens=10)


class Counting:
    """A token counter that records how often it is called."""

    def __init__(self, count):
        self.count, self.calls = count, 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return self.count(text)


def characters(text: str) -> int:
    return len(text)


def test_text_without_spaces_is_cut_with_few_token_counts():
    """Was one tokenizer call per character (minutes for a few MB of "a,a,a,..." with MiniLM)."""
    text = "a," * 50_000
    counter = Counting(characters)
    chunker = TokenChunker(counter, chunk_tokens=200, overlap_tokens=30)
    pieces = chunker.split(ParsedDocument((Page(1, text),)))
    assert all(len(p.text) <= 200 for p in pieces)
    assert "".join(p.text for p in pieces) == text
    assert counter.calls < 5_000


def test_a_single_token_may_not_stand_for_a_huge_chunk():
    """A WordPiece tokenizer counts a 100 KB word as one [UNK]; the chunk still stays passage-sized."""
    text = "a" * 100_000 + " tail"
    pieces = TokenChunker(words, chunk_tokens=50, overlap_tokens=5).split(ParsedDocument((Page(1, text),)))
    assert all(len(p.text) <= 50 * 8 for p in pieces)
    assert "".join(p.text.replace(" ", "") for p in pieces) == text.replace(" ", "")


def test_repeated_words_are_counted_once():
    vocabulary = [f"word{i}" for i in range(50)]
    text = " ".join(vocabulary[i % 50] for i in range(20_000))
    counter = Counting(words)
    chunker = TokenChunker(counter, chunk_tokens=100, overlap_tokens=10)
    pieces = chunker.split(ParsedDocument((Page(1, text),)))
    assert all(words(p.text) <= 100 for p in pieces)
    assert counter.calls < 2_000  # was over 20,000: one per word, and again when merging


def test_chunks_are_checked_against_the_limit_when_counts_do_not_add_up():
    """A tokenizer may count a joined text higher than the sum of its parts; the limit still holds."""

    def superadditive(text: str) -> int:
        return len(text.split()) * (2 if len(text) > 100 else 1)

    text = " ".join(f"w{i:04d}" for i in range(2_000))
    chunker = TokenChunker(superadditive, chunk_tokens=40, overlap_tokens=0)
    pieces = chunker.split(ParsedDocument((Page(1, text),)))
    assert pieces and all(superadditive(p.text) <= 40 for p in pieces)
    assert " ".join(p.text for p in pieces).split() == text.split()
