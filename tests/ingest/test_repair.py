"""The consistency check and repair, on a real embedded Chroma and real BM25 files.

Each crash point of the pipeline's write order is reached by a store that raises at its N-th write,
so the writes after it never happen, as after a SIGKILL between two writes (kills inside a write,
with the real embedder, are in ``test_crash_consistency.py``). The embedder is a fast hashing fake.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from retrieval.bm25 import BM25Directory
from retrieval.consistency import check, repair, repair_at_startup
from retrieval.stores import store_from_settings
from tests.conftest import make_settings
from tests.ingest.index_invariants import (
    Crash,
    CrashingStore,
    TinyEmbedder,
    documents_by_source,
    index_problems,
    tick,
)

pytestmark = pytest.mark.unit

COL = "default"
OLD = {
    "a.md": "# Alpha\n\nThe alpha document talks about walruses and their tusks.\n\n" + "Walrus fact. " * 40,
    "b.md": "# Beta\n\nThe beta document stays the same in every run: ibises and herons.\n",
}
NEW = {
    "a.md": "# Alpha, revised\n\nNow the alpha document is about pattern matching.\n\n" + "Match case. " * 60,
    "b.md": OLD["b.md"],
    "c.md": "# Gamma\n\nA new document about zstd compression levels and dictionaries.\n",
}
# The writes ingesting NEW over OLD makes, in order (b.md is unchanged, so it writes nothing).
WRITES = ["upsert a", "put a", "delete old a", "upsert c", "put c", "delete old c", "publish bm25"]


class CrashingBM25(BM25Directory):
    def __init__(self, root: Path, crash_at: int, counter: list[int]) -> None:
        super().__init__(root)
        self._crash_at, self._counter = crash_at, counter

    def publish(self, collection, rows):  # noqa: ANN001, ANN201
        tick(self._counter, self._crash_at)
        return super().publish(collection, rows)


def write_docs(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, text in docs.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def env(tmp_path):
    settings = make_settings(tmp_path / "data", chunk_tokens=40, chunk_overlap_tokens=5)
    store = store_from_settings(settings)
    bm25 = BM25Directory(settings.bm25_dir)
    yield settings, store, bm25, tmp_path / "docs"
    store.close()


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> tuple[dict, dict]:
    """(old, new): source -> (version, chunk ids), from a run that was not interrupted."""
    tmp = tmp_path_factory.mktemp("reference")
    settings = make_settings(tmp / "data", chunk_tokens=40, chunk_overlap_tokens=5)
    store = store_from_settings(settings)
    ingestor = Ingestor(store, TinyEmbedder(), BM25Directory(settings.bm25_dir), settings)
    try:
        ingestor.ingest_paths([write_docs(tmp / "docs", OLD)], COL)
        old = documents_by_source(store, COL)
        ingestor.ingest_paths([write_docs(tmp / "docs", NEW)], COL)
        return old, documents_by_source(store, COL)
    finally:
        store.close()


@pytest.mark.parametrize(
    "crash_at", range(len(WRITES) + 1), ids=[*(f"before {w}" for w in WRITES), "no crash"]
)
def test_every_crash_point_of_a_re_ingestion_repairs_to_old_or_new(env, versions, crash_at):
    settings, store, bm25, docs = env
    old, new = versions
    assert old["a.md"] != new["a.md"] and old["b.md"] == new["b.md"] and len(old["a.md"][1]) > 2
    Ingestor(store, TinyEmbedder(), bm25, settings).ingest_paths([write_docs(docs, OLD)], COL)

    counter = [0]
    crashing = Ingestor(
        CrashingStore(store, crash_at, counter),
        TinyEmbedder(),
        CrashingBM25(settings.bm25_dir, crash_at, counter),
        settings,
    )
    try:
        crashing.ingest_paths([write_docs(docs, NEW)], COL)
    except Crash:
        pass
    assert counter[0] == min(crash_at + 1, len(WRITES))  # the crash came where it was meant to

    report = repair(store, BM25Directory(settings.bm25_dir))  # a fresh process: nothing cached
    assert report.consistent and index_problems(store, bm25, COL) == []
    # The catalogue record is the commit point: a document is new exactly when its record was written.
    expected = {
        "a.md": new["a.md"] if crash_at > WRITES.index("put a") else old["a.md"],
        "b.md": old["b.md"],
        **({"c.md": new["c.md"]} if crash_at > WRITES.index("put c") else {}),
    }
    assert documents_by_source(store, COL) == expected
    needs_repair = 0 < crash_at < len(WRITES)  # before the first write nothing changed; after the last, all
    assert bool(report.repaired) == needs_repair, report.repaired
    assert check(store, bm25).consistent  # and a second check finds nothing more


def test_a_deletion_stopped_between_record_and_chunks_is_finished(env):
    settings, store, bm25, docs = env
    ingestor = Ingestor(store, TinyEmbedder(), bm25, settings)
    ingestor.ingest_paths([write_docs(docs, OLD)], COL)
    doc_id = store.documents(COL)[0].doc_id  # a.md
    # delete_document's first write alone, as a crash right after it leaves things:
    store._chroma(COL, "docs").delete(ids=[doc_id])  # noqa: SLF001 - reaching the half-way state
    [problem] = [p for p in check(store, bm25).problems if p.kind != "bm25 out of step"]
    assert (problem.kind, problem.doc_id) == ("orphan chunks", doc_id) and problem.detail.startswith("a.md")
    report = repair(store, bm25)
    assert report.consistent and [d.source for d in store.documents(COL)] == ["b.md"]
    assert index_problems(store, bm25, COL) == []


def test_a_record_whose_chunks_are_gone_is_dropped_and_named_for_re_ingestion(env):
    settings, store, bm25, docs = env
    Ingestor(store, TinyEmbedder(), bm25, settings).ingest_paths([write_docs(docs, OLD)], COL)
    a = next(d for d in store.documents(COL) if d.source == "a.md")
    some = [cid for cid, doc, *_ in store.iter_chunk_refs(COL) if doc == a.doc_id][:2]
    store._chroma(COL, "chunks").delete(ids=some)  # noqa: SLF001 - damage from outside, not a crash
    damaged = [p for p in check(store, bm25).problems if p.kind == "damaged document"]
    assert len(damaged) == 1 and "a.md" in damaged[0].detail and "ingest it again" in damaged[0].detail
    report = repair(store, bm25)
    assert report.consistent and {p.kind for p in report.repaired} == {"damaged document", "bm25 out of step"}
    assert [d.source for d in store.documents(COL)] == ["b.md"] and index_problems(store, bm25, COL) == []
    # ...and ingesting it again brings it back whole.
    Ingestor(store, TinyEmbedder(), bm25, settings).ingest_paths([docs], COL)
    assert documents_by_source(store, COL)["a.md"][0] == a.version and index_problems(store, bm25, COL) == []


@pytest.mark.parametrize("damage", ["stale", "missing folder", "garbage CURRENT", "never built"])
def test_bm25_that_disagrees_with_the_store_is_rebuilt(env, damage):
    settings, store, bm25, docs = env
    ingestor = Ingestor(store, TinyEmbedder(), bm25, settings)
    ingestor.ingest_paths([write_docs(docs, OLD)], COL)
    folder = settings.bm25_dir / COL
    if damage == "stale":  # the store moved on, BM25 was not rebuilt (a crash before step 4)
        ingestor.ingest_bytes("c.md", NEW["c.md"].encode(), COL)
    elif damage == "missing folder":
        shutil.rmtree(folder / f"v{bm25.current_version(COL)}")
    elif damage == "garbage CURRENT":
        (folder / "CURRENT").write_text("not a number")
    else:
        shutil.rmtree(folder)
    fresh = BM25Directory(settings.bm25_dir)  # a new process: nothing cached in memory
    [problem] = check(store, fresh).problems
    assert problem.kind == "bm25 out of step"
    report = repair(store, fresh)
    assert report.consistent and report.repaired == (problem,)
    assert index_problems(store, BM25Directory(settings.bm25_dir), COL) == []
    assert BM25Directory(settings.bm25_dir).get(COL).search("ibises herons", 3)


def test_a_consistent_index_is_left_alone(env):
    settings, store, bm25, docs = env
    Ingestor(store, TinyEmbedder(), bm25, settings).ingest_paths([write_docs(docs, NEW)], COL)
    version = bm25.current_version(COL)
    report = repair(store, bm25)
    assert report.consistent and not report.repaired and report.summary() == "index checked: consistent"
    assert (report.collections, report.documents, report.chunks) == (1, 3, store.count(COL))
    assert bm25.current_version(COL) == version  # nothing rebuilt at every start-up


def test_server_mode_reports_store_problems_but_only_rebuilds_its_own_bm25(env, caplog):
    settings, store, bm25, docs = env
    ingestor = Ingestor(store, TinyEmbedder(), bm25, settings)
    ingestor.ingest_paths([write_docs(docs, OLD)], COL)
    # Another replica mid-ingestion looks like this: new chunks, no record yet. It must not be touched.
    store._chroma(COL, "docs").delete(ids=[store.documents(COL)[0].doc_id])  # noqa: SLF001
    shutil.rmtree(settings.bm25_dir)  # and this replica's own BM25 files are gone
    chunks = store.count(COL)
    with caplog.at_level(logging.INFO, logger="retrieval.consistency"):
        report = repair_at_startup(store, bm25, chroma_mode="server")
    assert store.count(COL) == chunks
    assert [p.kind for p in report.problems] == ["orphan chunks"] and not report.consistent
    assert [p.kind for p in report.repaired] == ["bm25 out of step"]
    assert report.summary() == "index checked: 1 problem left (not repaired), 1 repaired"
    assert "not repaired: orphan chunks" in caplog.text


def test_the_start_up_check_logs_what_it_repaired_and_never_raises(env, caplog):
    settings, store, bm25, docs = env
    ingestor = Ingestor(store, TinyEmbedder(), bm25, settings)
    ingestor.ingest_paths([write_docs(docs, OLD)], COL)
    store._chroma(COL, "docs").delete(ids=[store.documents(COL)[0].doc_id])  # noqa: SLF001
    with caplog.at_level(logging.INFO, logger="retrieval.consistency"):
        report = repair_at_startup(store, bm25, chroma_mode="embedded")
    assert report.summary() == "index checked: repaired 1 problem" and report.consistent
    assert "repaired orphan chunks in collection 'default': a.md: " in caplog.text
    assert "Walrus" not in caplog.text  # names, never document text

    class Down:
        def collections(self):  # noqa: ANN202
            raise ConnectionError("http://user:secret@chroma:8000 refused")

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="retrieval.consistency"):
        failed = repair_at_startup(Down(), bm25, chroma_mode="server")  # type: ignore[arg-type]
    assert failed.error == "ConnectionError" and not failed.consistent
    assert "ConnectionError" in caplog.text and "secret" not in caplog.text
    assert "secret" not in failed.summary() and failed.summary().startswith("index check failed")
