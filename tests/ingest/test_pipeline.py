"""Ingestion with the real embedder and embedded Chroma, on the sample documents and tiny bad files."""

from __future__ import annotations

import shutil
import threading
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from retrieval.bm25 import BM25Directory
from retrieval.factory import open_retrieval
from retrieval.stores import store_from_settings
from tests.conftest import SAMPLE_DOCS, make_settings
from tests.ingest.index_invariants import Crash, CrashingStore, TinyEmbedder

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
    return (
        {d.source: d.chunks for d in stack.store.documents(collection)},
        stack.store.count(collection),
        len(stack.bm25.get(collection)),
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
    assert [(o.source, o.status) for o in outcomes] == [
        ("a/notes.md", "ingested"),
        ("b/notes.md", "ingested"),
    ]
    assert {d.source for d in stack.store.documents("default")} == {"a/notes.md", "b/notes.md"}


# -- the look-ahead: parse the next file while this one is embedded --------------------------------
# A fast hashing embedder and the real sandbox and Chroma: what is checked is order, not speed.


class RecordingStore(CrashingStore):
    """The real store, logging each write (what, which document, on which thread)."""

    def __init__(self, store, log: list[tuple[str, str, str]]) -> None:  # noqa: ANN001
        super().__init__(store, crash_at=-1, counter=[0])
        self._log = log

    def __getattr__(self, name: str):  # noqa: ANN204
        attr = getattr(self._store, name)
        if name not in self.WRITES:
            return attr

        def write(first, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            doc = first[0].source if name == "upsert" else getattr(first, "source", None) or args[0][:8]
            self._log.append((name, doc, threading.current_thread().name))
            return attr(first, *args, **kwargs)

        return write


class GatedEmbedder(TinyEmbedder):
    """Embeds document k only once the parse of document k+1 has started (or ``wait`` s have passed)."""

    def __init__(self, order: list[str], parse_started: dict[str, threading.Event], wait: float) -> None:
        self.order, self.parse_started, self.wait = order, parse_started, wait
        self.overlapped: list[bool] = []
        self.events: list[tuple[str, str]] = []

    def embed(self, texts):  # noqa: ANN001, ANN201
        doc = self.order[len(self.overlapped)]
        self.events.append(("embed start", doc))
        following = self.order[len(self.overlapped) + 1 :]
        self.overlapped.append(self.parse_started[following[0]].wait(self.wait) if following else True)
        self.events.append(("embed end", doc))
        return super().embed(texts)


def instrument_parse(monkeypatch, events: list[tuple[str, str]]) -> dict[str, threading.Event]:  # noqa: ANN001
    from ingest import pipeline

    started: dict[str, threading.Event] = defaultdict(threading.Event)
    real = pipeline.parse_untrusted

    def parse(name, data, settings):  # noqa: ANN001, ANN202
        events.append(("parse start", name))
        started[name].set()
        try:
            return real(name, data, settings)
        finally:
            events.append(("parse end", name))

    monkeypatch.setattr(pipeline, "parse_untrusted", parse)
    return started


def write_files(folder: Path, texts: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_bytes(text.encode() if isinstance(text, str) else text)
    return folder


DOCS = {f"{c}.md": f"# {c.upper()}\n\nDocument {c} is about " + f"topic {c} and more. " * 30 for c in "abcd"}


@pytest.mark.parametrize("prefetch", [2, 0])
def test_the_next_file_is_parsed_while_this_one_is_embedded(tmp_path, monkeypatch, prefetch):
    settings = make_settings(tmp_path / "data", ingest_prefetch=prefetch)
    events: list[tuple[str, str]] = []
    started = instrument_parse(monkeypatch, events)
    embedder = GatedEmbedder(sorted(DOCS), started, wait=20 if prefetch else 0.5)
    embedder.events = events
    store = store_from_settings(settings)
    try:
        outcomes = Ingestor(store, embedder, BM25Directory(settings.bm25_dir), settings).ingest_paths(
            [write_files(tmp_path / "docs", DOCS)]
        )
    finally:
        store.close()
    assert [(o.source, o.status) for o in outcomes] == [(n, "ingested") for n in sorted(DOCS)]
    if prefetch:  # file k+1's parse began before file k's embedding ended, for every k
        assert embedder.overlapped == [True] * len(DOCS), events
        assert events.index(("parse start", "b.md")) < events.index(("embed end", "a.md"))
    else:  # the instrument can tell: one at a time, the next parse never starts during an embedding
        assert embedder.overlapped == [False] * (len(DOCS) - 1) + [True], events


MIXED: dict[str, str | bytes] = {
    **DOCS,
    "empty.txt": b"",
    "fake.pdf": b"%PDF-1.7\nnot really a pdf",
    "blank.md": "   \n\n",
    "page.html": "<html><body><h1>Herons</h1><p>Herons wade in shallow water.</p></body></html>",
}


def run_mixed(tmp_path: Path, prefetch: int, monkeypatch) -> tuple[list, list, int]:  # noqa: ANN001
    """Ingest MIXED, then a changed copy over it, with a duplicated name: outcomes and the write log."""
    settings = make_settings(tmp_path / f"data{prefetch}", ingest_prefetch=prefetch)
    log: list[tuple[str, str, str]] = []
    store = store_from_settings(settings)
    bm25 = BM25Directory(settings.bm25_dir)
    publishes = []
    monkeypatch.setattr(bm25, "publish", lambda *a, real=bm25.publish: publishes.append(1) or real(*a))
    ingestor = Ingestor(RecordingStore(store, log), TinyEmbedder(), bm25, settings)
    try:
        first = ingestor.ingest_paths([write_files(tmp_path / "v1", MIXED)])
        changed = {**MIXED, "b.md": "# B\n\nRewritten: now about windmills.\n", "new.md": "Lighthouses."}
        twice = write_files(tmp_path / "other", {"c.md": "A different c.md from another folder."})
        second = ingestor.ingest_paths([write_files(tmp_path / "v2", changed), twice / "c.md"])
        outcomes = [(o.source, o.status, o.detail, o.pages, o.chunks) for o in first + second]
        return outcomes, log, len(publishes)
    finally:
        store.close()


def test_look_ahead_changes_no_outcome_and_no_write(tmp_path, monkeypatch):
    ahead, log_ahead, publishes = run_mixed(tmp_path, 2, monkeypatch)
    alone, log_alone, _ = run_mixed(tmp_path, 0, monkeypatch)
    assert ahead == alone
    assert [(what, doc) for what, doc, _ in log_ahead] == [(what, doc) for what, doc, _ in log_alone]
    assert {thread for *_, thread in log_ahead} == {threading.main_thread().name}  # writes stay here
    assert publishes == 2  # BM25: once per ingest_paths call
    statuses = {(source, status) for source, status, *_ in ahead}
    assert {
        ("empty.txt", "refused"),
        ("fake.pdf", "refused"),
        ("blank.md", "refused"),
        ("b.md", "updated"),
        ("a.md", "unchanged"),
        ("new.md", "ingested"),
    } <= statuses
    assert ahead[-1][:2] == ("c.md", "updated")  # the second c.md of one run sees the first one's record


def test_a_failed_write_stops_the_run_and_the_helper_thread(tmp_path):
    settings = make_settings(tmp_path / "data", ingest_prefetch=2)
    store = store_from_settings(settings)
    counter = [0]
    try:
        crashing = Ingestor(
            CrashingStore(store, 3, counter), TinyEmbedder(), BM25Directory(settings.bm25_dir), settings
        )
        with pytest.raises(Crash):
            crashing.ingest_paths([write_files(tmp_path / "docs", DOCS)])
        assert counter[0] == 4  # a.md's three writes, then b.md's upsert raised; nothing after it
        assert [d.source for d in store.documents("default")] == ["a.md"]
        assert not [t for t in threading.enumerate() if t.name.startswith("askdocs-prepare")]
    finally:
        store.close()
