"""Ingestion with the real embedder and embedded Chroma, on the sample documents and tiny bad files."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from retrieval.factory import open_retrieval
from tests.conftest import SAMPLE_DOCS

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(settings, embedder):
    stack = open_retrieval(settings, embedder=embedder)
    yield stack
    stack.close()


@pytest.fixture
def ingestor(stack, settings):
    return Ingestor(stack.store, stack.embedder, stack.bm25, settings)


def counts(stack, collection="default"):
    return {d.source: d.chunks for d in stack.store.documents(collection)}, stack.store.count(collection), len(
        stack.bm25.get(collection)
    )


def test_sample_docs_go_in_once_and_a_second_run_changes_nothing(stack, ingestor):
    first = ingestor.ingest_paths([SAMPLE_DOCS])
    assert {o.status for o in first} == {"ingested"}, [o.line() for o in first]
    before = counts(stack)
    version = stack.bm25.current_version("default")
    assert len(before[0]) == len(first) and before[1] == before[2] == sum(before[0].values())
    second = ingestor.ingest_paths([SAMPLE_DOCS])
    assert {o.status for o in second} == {"unchanged"}
    assert counts(stack) == before
    assert stack.bm25.current_version("default") == version  # nothing changed, nothing rebuilt


def test_pdf_chunks_know_their_pages(stack, ingestor):
    ingestor.ingest_paths([SAMPLE_DOCS / "python_sorting_howto.pdf"])
    pages = {(c.page_start, c.page_end) for c in stack.store.iter_chunks("default")}
    assert {p for p, _ in pages} == {1, 2, 3, 4}


def test_a_changed_file_replaces_its_old_chunks(stack, ingestor, tmp_path):
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nThe walrus operator assigns inside expressions.\n")
    ingestor.ingest_paths([doc])
    old_ids = {c.chunk_id for c in stack.store.iter_chunks("default")}
    doc.write_text("# Notes\n\nPattern matching arrived in Python 3.10 with match and case.\n")
    [outcome] = ingestor.ingest_paths([doc])
    assert outcome.status == "updated"
    texts = [c.text for c in stack.store.iter_chunks("default")]
    assert not old_ids & {c.chunk_id for c in stack.store.iter_chunks("default")}
    assert all("walrus" not in t for t in texts) and any("match and case" in t for t in texts)
    assert [h.chunk_id for h in stack.bm25.get("default").search("walrus", 5)] == []
    assert stack.bm25.get("default").search("pattern matching", 5)


def test_delete_removes_chunks_catalogue_and_bm25_entries(stack, ingestor):
    ingestor.ingest_paths([SAMPLE_DOCS])
    outcome = ingestor.delete("default", "zstd_README.md")
    assert outcome.status == "deleted"
    sources = {c.source for c in stack.store.iter_chunks("default")}
    assert "zstd_README.md" not in sources and len(sources) == 4
    assert "zstd_README.md" not in {d.source for d in stack.store.documents("default")}
    assert len(stack.bm25.get("default")) == stack.store.count("default")
    assert ingestor.delete("default", "zstd_README.md").status == "not found"


def test_bad_files_are_refused_and_good_ones_beside_them_go_in(stack, ingestor, tmp_path, bad_files):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in bad_files.values():
        shutil.copy(path, folder / path.name)
    shutil.copy(SAMPLE_DOCS / "zstd_README.md", folder)
    outcomes = {o.source: o for o in ingestor.ingest_paths([folder])}
    assert outcomes["zstd_README.md"].status == "ingested"
    refused = {name: o.detail for name, o in outcomes.items() if o.status == "refused"}
    assert set(refused) == {p.name for p in bad_files.values()}, outcomes
    assert "encrypted" in refused[bad_files["encrypted"].name].lower()
    assert "empty" in refused[bad_files["empty"].name].lower()
    assert "zip" in refused[bad_files["zip_as_pdf"].name].lower()
    assert {d.source for d in stack.store.documents("default")} == {"zstd_README.md"}


def test_script_only_html_contributes_no_script_text(stack, ingestor, tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><script>var secretToken = 'xyzzy';</script><style>.a{color:red}</style></head>"
        "<body><p>The visible paragraph about lighthouses.</p><script>alert('pwned')</script></body></html>"
    )
    [outcome] = ingestor.ingest_paths([page])
    assert outcome.status == "ingested"
    text = " ".join(c.text for c in stack.store.iter_chunks("default"))
    assert "lighthouses" in text and "xyzzy" not in text and "alert" not in text and "color" not in text


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    from pypdf import PdfWriter

    folder = tmp_path / "bad"
    folder.mkdir()
    zip_path = folder / "archive.pdf"
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("a.txt", "hello")
    writer = PdfWriter(clone_from=str(SAMPLE_DOCS / "python_sorting_howto.pdf"))
    writer.encrypt("secret")
    encrypted = folder / "locked.pdf"
    with encrypted.open("wb") as f:
        writer.write(f)
    data = (SAMPLE_DOCS / "python_sorting_howto.pdf").read_bytes()
    truncated = folder / "truncated.pdf"
    truncated.write_bytes(data[: len(data) // 3])
    empty = folder / "empty.txt"
    empty.write_bytes(b"")
    return {"zip_as_pdf": zip_path, "encrypted": encrypted, "truncated": truncated, "empty": empty}


def test_files_with_the_same_name_in_different_folders_stay_apart(stack, ingestor, tmp_path):
    for folder, text in (("a", "Lighthouses guide ships at night."), ("b", "Windmills grind grain.")):
        (tmp_path / "docs" / folder).mkdir(parents=True)
        (tmp_path / "docs" / folder / "notes.md").write_text(text)
    outcomes = ingestor.ingest_paths([tmp_path / "docs"])
    assert [(o.source, o.status) for o in outcomes] == [("a/notes.md", "ingested"), ("b/notes.md", "ingested")]
    assert {d.source for d in stack.store.documents("default")} == {"a/notes.md", "b/notes.md"}
