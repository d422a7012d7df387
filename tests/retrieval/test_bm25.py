import time
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.bm25 import BM25Directory, BM25Index, StoredChunks, tokenize

pytestmark = pytest.mark.unit

SAMPLE = Path(__file__).parents[2] / "sample_docs" / "documents"


def _paragraphs() -> list[str]:
    texts = []
    for path in sorted(SAMPLE.glob("*.md")) + sorted(SAMPLE.glob("*.txt")):
        texts += [p for p in path.read_text(encoding="utf-8").split("\n\n") if len(p.split()) > 5]
    return texts


def test_tokenize_lowercases_stems_and_drops_stop_words():
    assert tokenize("The Sorting of Lists, and sorted()") == ["sort", "list", "sort"]


@pytest.mark.parametrize(
    "query",
    [
        "compression level dictionary",
        "ip address network",
        "zstd speed benchmark",
        "ipv6 interface",
        "sort key",
    ],
)
def test_ranking_matches_rank_bm25_on_the_same_tokens(query):
    texts = _paragraphs()
    rows = [(f"c{i}", f"d{i % 7}", t) for i, t in enumerate(texts)]
    ours = BM25Index.build(rows, method="robertson")
    reference = BM25Okapi([tokenize(t) for t in texts])
    ref_scores = reference.get_scores(tokenize(query))
    hits = ours.search(query, k=10)
    expected = [f"c{i}" for i in np.argsort(-ref_scores, kind="stable")[: len(hits)]]
    assert [h.chunk_id for h in hits] == expected
    ratios = [h.score / ref_scores[int(h.chunk_id[1:])] for h in hits]
    # bm25s keeps Robertson's (k1 + 1) factor out of the term weight; rankings are what must agree.
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-4)


def test_search_respects_the_document_filter_and_drops_zero_scores():
    index = BM25Index.build(
        [("a", "d1", "zstd compresses fast"), ("b", "d2", "zstd has levels"), ("c", "d2", "other")]
    )
    assert {h.chunk_id for h in index.search("zstd", 10)} == {"a", "b"}
    assert [h.chunk_id for h in index.search("zstd", 10, doc_ids=["d2"])] == ["b"]
    assert index.search("zstd", 10, doc_ids=["nope"]) == []
    assert index.search("the and of", 10) == []  # only stop words


def test_empty_index_answers_nothing():
    assert BM25Index.build([]).search("anything", 5) == []


def test_chunks_without_any_indexable_word_publish_and_reload(tmp_path):
    """Found by fuzzing the REST API: a file holding only "0" or "the" made bm25s raise on an empty vocabulary."""
    directory = BM25Directory(tmp_path)
    index = directory.publish("docs", [("c1", "d", "the of and"), ("c2", "d", "")])
    assert len(index) == 2 and index.search("the", 5) == []
    assert len(BM25Directory(tmp_path).get("docs")) == 2  # read back from disk by another process


def test_publish_swaps_versions_atomically_and_keeps_one_old(tmp_path):
    directory = BM25Directory(tmp_path)
    assert directory.current_version("docs") == 0
    for n in range(1, 5):
        directory.publish("docs", [(f"c{n}", "d", f"text number {n} zstd")])
    assert directory.current_version("docs") == 4
    assert sorted(p.name for p in (tmp_path / "docs").glob("v*")) == ["v3", "v4"]
    fresh = BM25Directory(tmp_path)  # another process: reads what is on disk
    assert [h.chunk_id for h in fresh.get("docs").search("zstd", 5)] == ["c4"]


def test_reader_reloads_when_another_writer_publishes(tmp_path):
    reader, writer = BM25Directory(tmp_path), BM25Directory(tmp_path)
    writer.publish("docs", [("old", "d", "alpha")])
    assert [h.chunk_id for h in reader.get("docs").search("alpha", 5)] == ["old"]
    writer.publish("docs", [("new", "d", "alpha")])
    assert [h.chunk_id for h in reader.get("docs").search("alpha", 5)] == ["new"]


_PUBLISHER = """
import sys, time
from pathlib import Path
from retrieval.bm25 import BM25Directory

root, process, times, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
directory = BM25Directory(root)
while not go.exists():  # both processes are up before either publishes: their publishes overlap
    time.sleep(0.01)
for i in range(times):
    directory.publish("shared", [(f"p{process}-{i}", "doc", f"process {process} publish {i} words here")])
"""


def test_two_processes_publishing_to_one_folder_take_turns(tmp_path):
    """Replicas sharing the BM25 folder: every publish gets its own version and none fails."""
    import subprocess
    import sys

    go = tmp_path / "go"
    root = Path(__file__).resolve().parents[2]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, str(tmp_path / "bm25"), str(p), "40", str(go)],
            cwd=root,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in (1, 2)
    ]
    time.sleep(1.0)
    go.touch()
    errors = [worker.communicate(timeout=300)[1] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], errors
    directory = BM25Directory(tmp_path / "bm25")
    assert directory.current_version("shared") == 80
    assert len(directory.get("shared")) == 1  # the last publish's one row, read back whole


def _rows() -> list[tuple[str, str, str]]:
    return [(f"c{i}", f"d{i % 7}", t) for i, t in enumerate(_paragraphs())]


@pytest.mark.parametrize("method", ["lucene", "robertson"])
def test_scores_equal_bm25s_own_indexer(method):
    """The numpy scoring (retrieval.bm25_counts) must give what bm25s.BM25.index gives on the same tokens."""
    import bm25s

    rows = _rows()
    ours = BM25Index.build(rows, method=method)
    reference = bm25s.BM25(method=method)
    reference.index([tokenize(t) for _, _, t in rows], show_progress=False)
    for query in ("compression level dictionary", "ip address network", "sort key function", "zstd"):
        terms = tokenize(query)
        expected = reference.get_scores(terms)
        got = ours._model.get_scores(terms)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def _stored(ids, rows, asked):
    by_id = {cid: (doc, text) for cid, doc, text in rows}

    def read(wanted):
        asked.extend(wanted)
        return {cid: by_id[cid] for cid in wanted if cid in by_id}

    return StoredChunks(ids, read)


def test_publishing_stored_chunks_reads_only_new_chunks_and_equals_a_full_build(tmp_path):
    rows = _rows()
    directory = BM25Directory(tmp_path)
    directory.publish("docs", rows[:-3])
    asked: list[str] = []
    added = rows[:-3] + [("new1", "dn", "zstd dictionary training"), *rows[-3:]]
    refreshed = directory.publish("docs", _stored([c for c, _, _ in added], added, asked))
    assert sorted(asked) == sorted(["new1", *(c for c, _, _ in rows[-3:])])
    full = BM25Index.build(added)
    assert refreshed.chunk_ids == full.chunk_ids and list(refreshed.doc_ids) == list(full.doc_ids)
    for query in ("zstd dictionary", "ip address", "sort key"):
        assert [(h.chunk_id, round(h.score, 4)) for h in refreshed.search(query, 10)] == [
            (h.chunk_id, round(h.score, 4)) for h in full.search(query, 10)
        ]
    reloaded = BM25Directory(tmp_path).get("docs")  # another process reading the files
    assert [h.chunk_id for h in reloaded.search("zstd dictionary", 5)] == [
        h.chunk_id for h in full.search("zstd dictionary", 5)
    ]


def test_publishing_stored_chunks_after_deleting_drops_the_chunks_and_their_terms(tmp_path):
    directory = BM25Directory(tmp_path)
    rows = [("a", "d1", "zstd compresses"), ("b", "d2", "quokka levels"), ("c", "d2", "other words")]
    directory.publish("docs", rows)
    asked: list[str] = []
    index = directory.publish("docs", _stored(["a", "c"], rows, asked))
    assert asked == [] and index.chunk_ids == ["a", "c"]
    assert index.search("quokka", 5) == []
    assert "quokka" not in index._model.vocab_dict  # a fresh build would not know it either


def test_publishing_stored_chunks_of_a_version_without_counts_rebuilds_from_all_texts(tmp_path):
    """Versions written before counts were kept (or an empty folder) are rebuilt once from the texts."""
    directory = BM25Directory(tmp_path)
    rows = [("a", "d1", "zstd compresses"), ("b", "d2", "quokka levels")]
    directory.publish("docs", rows)
    folder = tmp_path / "docs" / f"v{directory.current_version('docs')}"
    for stale in folder.glob("counts.*"):
        stale.unlink()
    asked: list[str] = []
    index = directory.publish("docs", _stored(["a", "b"], rows, asked))
    assert sorted(asked) == ["a", "b"] and [h.chunk_id for h in index.search("quokka", 5)] == ["b"]
    asked.clear()
    empty = BM25Directory(tmp_path / "other").publish("docs", _stored(["a"], rows, asked))
    assert asked == ["a"] and len(empty) == 1


def test_publishing_stored_chunks_skips_chunks_deleted_while_it_ran(tmp_path):
    directory = BM25Directory(tmp_path)
    rows = [("a", "d1", "zstd compresses")]
    index = directory.publish("docs", _stored(["a", "gone"], rows, []))
    assert index.chunk_ids == ["a"] and list(index.doc_ids) == ["d1"]
