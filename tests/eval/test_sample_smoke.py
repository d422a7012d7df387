"""The smoke set built from sample_docs: the app's own chunks, and the right ones marked relevant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from askdocs.types import Chunk
from eval.datasets.sample_smoke import SAMPLE_DOCS, build_sample_smoke, normalize, relevant_chunks

QUESTIONS = [json.loads(line) for line in (SAMPLE_DOCS / "questions.jsonl").read_text().splitlines() if line]


def _chunk(chunk_id: str, text: str, source: str = "doc.pdf", page: int = 1) -> Chunk:
    return Chunk(chunk_id, "d", source, "default", "v", 0, text, page, page)


# -- relevance rule --------------------------------------------------------------------------------
@pytest.mark.unit
def test_every_chunk_on_the_page_holding_the_evidence_is_relevant() -> None:
    chunks = [
        _chunk("a", "Intro. The answer is\n  forty-two, said the   computer. More."),
        _chunk("b", "the answer is forty-two, said the computer."),  # the overlap repeats it
        _chunk("c", "The answer is forty-two, said the computer.", page=2),  # wrong page
        _chunk("d", "The answer is forty-two, said the computer.", source="other.pdf"),  # wrong source
        _chunk("e", "Nothing here."),
    ]
    found, partial = relevant_chunks("doc.pdf", 1, "answer is forty-two, said the computer.", chunks)
    assert [c.chunk_id for c in found] == ["a", "b"] and not partial


@pytest.mark.unit
def test_evidence_split_across_a_boundary_falls_back_to_the_larger_part() -> None:
    evidence = "Values that will fit within 32 bits are assumed to be IPv4 addresses"
    chunks = [
        _chunk("a", "Background text. Values that will fit within 32 bits"),
        _chunk("b", "are assumed to be IPv4 addresses, and larger ones IPv6."),
        _chunk("c", "Unrelated text on the same page."),
    ]
    found, partial = relevant_chunks("doc.pdf", 1, evidence, chunks)
    assert [c.chunk_id for c in found] == ["a"] and partial
    with pytest.raises(ValueError, match="evidence not found"):
        relevant_chunks("doc.pdf", 1, "Something the document never says at all, anywhere.", chunks)


# -- the real set ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Path, dict]:
    from tests.conftest import make_settings

    folder = tmp_path_factory.mktemp("smoke")
    settings = make_settings(folder / "data")
    provenance = build_sample_smoke(folder / "out", settings, embedder.count_tokens)
    return folder / "out", provenance


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.integration
def test_every_question_has_relevant_chunks_from_its_own_source_and_page(smoke) -> None:
    out, provenance = smoke
    corpus = {row["_id"]: row for row in _rows(out / "corpus.jsonl")}
    queries = {row["_id"]: row for row in _rows(out / "queries.jsonl")}
    lines = (out / "qrels" / "test.tsv").read_text().splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    qrels = [line.split("\t") for line in lines[1:]]
    assert set(queries) == {q["id"] for q in QUESTIONS}
    for question in QUESTIONS:
        relevant = [corpus[c] for q, c, _ in qrels if q == question["id"]]
        assert relevant, question["id"]
        for row in relevant:
            assert row["title"] == ""  # what the app indexes: the chunk's text alone
            assert normalize(question["evidence"]) in normalize(row["text"])  # no fallback needed today
        assert queries[question["id"]]["metadata"]["source"] == question["source"]
    assert provenance["counts"]["partial_evidence_matches"] == []
    unanswerable = _rows(out / "unanswerable.jsonl")
    assert [row["_id"] for row in unanswerable] == ["u1", "u2", "u3"]
    assert all(row["text"] for row in unanswerable)


class _CapturingStore:
    """Just enough of a store for ``Ingestor.ingest_bytes``: it keeps what is upserted."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []

    def document(self, collection: str, doc_id: str) -> None:
        return None

    def upsert(self, chunks, vectors) -> None:  # noqa: ANN001 - what the Ingestor hands over
        self.chunks += chunks

    def delete_document(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        pass

    def put_document(self, record) -> None:  # noqa: ANN001
        pass


class _TokenCountOnly:
    """The real tokenizer without paying for embeddings the test does not look at."""

    def __init__(self, embedder) -> None:  # noqa: ANN001
        self.count_tokens = embedder.count_tokens
        self.dimension = embedder.dimension

    def embed(self, texts):  # noqa: ANN001, ANN201
        return np.zeros((len(texts), self.dimension), dtype=np.float32)


@pytest.mark.integration
def test_corpus_is_exactly_what_the_ingestor_stores(smoke, embedder, tmp_path: Path) -> None:
    from ingest.pipeline import Ingestor
    from tests.conftest import make_settings

    out, _ = smoke
    store = _CapturingStore()
    fake_embedder = _TokenCountOnly(embedder)
    ingestor = Ingestor(store, fake_embedder, None, make_settings(tmp_path))  # type: ignore[arg-type]
    for path in sorted((SAMPLE_DOCS / "documents").iterdir()):
        assert ingestor.ingest_bytes(path.name, path.read_bytes(), "default").status == "ingested"
    stored = [(c.chunk_id, "", c.text) for c in store.chunks]
    written = [(row["_id"], row["title"], row["text"]) for row in _rows(out / "corpus.jsonl")]
    assert written == stored
