"""A new file kind is one module plus one registry line: the DOCX loader of ``tests/support``, end to end.

Registered only here. With it, upload validation recognises the file, the parse child loads it (it
imports the loader by the path the parent's registry gives), the pipeline chunks, embeds and indexes
it, and BM25 finds it; without it, the same bytes are refused with the message users get today.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.loaders import LOADERS, make_loader, supported_kinds
from ingest.pipeline import Ingestor
from ingest.sandbox import parse_untrusted
from ingest.validate import RefusedInput, detect_kind
from retrieval.bm25 import BM25Directory
from retrieval.stores import store_from_settings
from tests.conftest import make_settings
from tests.ingest.index_invariants import TinyEmbedder
from tests.support.loader_backend import make_docx

pytestmark = pytest.mark.integration

RULES = make_docx("Crossing rules", "The zebra crossing rule applies on Tuesdays.")
TODAY = (
    "not a supported file type (looks like a ZIP archive); upload a PDF, HTML, Markdown or plain-text file"
)


@pytest.fixture
def docx() -> Iterator[None]:
    LOADERS.add("docx", "tests.support.loader_backend:KIND")  # the one registry line
    try:
        yield
    finally:
        LOADERS.remove("docx")


def test_without_the_loader_a_docx_is_refused_as_today(tmp_path: Path) -> None:
    with pytest.raises(RefusedInput) as refused:
        parse_untrusted("rules.docx", RULES, make_settings(tmp_path / "data"))
    assert refused.value.reason == TODAY
    assert "docx" not in LOADERS.names()


def test_registered_the_kind_is_recognised_named_and_loaded(docx: None, tmp_path: Path) -> None:
    assert detect_kind(RULES, "rules.docx") == detect_kind(RULES, "whatever.bin") == "docx"
    assert supported_kinds() == "PDF, HTML, Markdown, plain-text or Word"  # the upload widget and API say it
    with pytest.raises(RefusedInput, match=r"^not a Word document: the file is named \.docx but does not"):
        detect_kind(b"just text", "notes.docx")
    assert detect_kind(b"just text", "notes.txt") == "text"  # the other kinds are as they were
    assert make_loader("docx").load(RULES).pages[0].text.endswith("applies on Tuesdays.")
    upload = parse_untrusted("rules.docx", RULES, make_settings(tmp_path / "data"))  # in the parse child
    assert (upload.kind, upload.document.paginated) == ("docx", False)
    assert upload.document.pages[0].text == "Crossing rules\nThe zebra crossing rule applies on Tuesdays."
    with pytest.raises(RefusedInput, match="^unreadable Word document"):
        parse_untrusted("broken.docx", RULES[: len(RULES) // 2], make_settings(tmp_path / "data"))


def test_registered_the_pipeline_ingests_it_and_search_finds_it(docx: None, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "rules.docx").write_bytes(RULES)
    (folder / "notes.md").write_text("# Notes\n\nNothing about road markings.\n")
    store = store_from_settings(settings)
    try:
        bm25 = BM25Directory(settings.bm25_dir)
        outcomes = Ingestor(store, TinyEmbedder(), bm25, settings).ingest_paths([folder])
        assert {o.source: o.status for o in outcomes} == {"notes.md": "ingested", "rules.docx": "ingested"}
        kinds = {d.source: d.kind for d in store.documents(settings.default_collection)}
        assert kinds == {"notes.md": "markdown", "rules.docx": "docx"}
        hits = bm25.get(settings.default_collection).search("zebra Tuesdays", 5)
        chunks = {c.chunk_id: c for c in store.iter_chunks(settings.default_collection)}
        chunk = chunks[hits[0].chunk_id]
        assert chunk.source == "rules.docx" and "zebra crossing" in chunk.text
    finally:
        store.close()
