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
        (Page(1, "Title page"), Page(2, long_page), Page(3, long_page.replace("alpha", "beta")), Page(4, "   ")),
        paginated=True,
    )
    pieces = TokenChunker(words, chunk_tokens=100, overlap_tokens=0).split(doc)
    assert [(p.page_start, p.page_end) for p in pieces] == [(1, 2), (3, 3)]
    assert pieces[0].text.startswith("Title page")
    assert "beta" not in pieces[0].text and "alpha" not in pieces[1].text


def test_make_chunks_assigns_positions_and_ids():
    chunks = make_chunks([TextPiece("a b", 1, 1), TextPiece("c d", 2, 3)], doc_id="d", source="s.pdf",
                         collection="default", version="v")
    assert [c.position for c in chunks] == [0, 1]
    assert chunks[1].page_label == "pp. 2-3" and chunks[0].page_label == "p. 1"
    assert chunks[0].chunk_id != chunks[1].chunk_id


def test_rejects_overlap_not_smaller_than_size():
    with pytest.raises(ValueError):
        TokenChunker(words, chunk_tokens=10, overlap_tokens=10)
