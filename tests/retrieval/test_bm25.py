import time
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.bm25 import BM25Directory, BM25Index, tokenize

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
    ["compression level dictionary", "ip address network", "zstd speed benchmark", "ipv6 interface", "sort key"],
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
    index = BM25Index.build([("a", "d1", "zstd compresses fast"), ("b", "d2", "zstd has levels"), ("c", "d2", "other")])
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
        subprocess.Popen([sys.executable, "-c", _PUBLISHER, str(tmp_path / "bm25"), str(p), "40", str(go)],
                         cwd=root, stderr=subprocess.PIPE, text=True)
        for p in (1, 2)
    ]
    time.sleep(1.0)
    go.touch()
    errors = [worker.communicate(timeout=300)[1] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], errors
    directory = BM25Directory(tmp_path / "bm25")
    assert directory.current_version("shared") == 80
    assert len(directory.get("shared")) == 1  # the last publish's one row, read back whole
