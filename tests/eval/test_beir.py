import gzip
import io
import logging
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest

from eval import datasets
from eval.beir import BeirDataset, BeirFormatError, Dropped, Passage, available_splits, load_beir

pytestmark = pytest.mark.unit

TINY = Path(__file__).parent / "fixtures" / "beir_tiny"


def tiny_copy(tmp_path: Path, name: str = "beir_tiny") -> Path:
    return Path(shutil.copytree(TINY, tmp_path / name))


def zip_bytes(folder: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if prefix:
            archive.writestr(prefix, b"")  # a directory entry, as zip tools write them
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def same_data(a: BeirDataset, b: BeirDataset) -> bool:
    fields = ("corpus", "queries", "qrels", "split", "dropped")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def test_loads_the_tiny_folder():
    data = load_beir(TINY)
    assert data.name == "beir_tiny" and data.split == "test"
    assert len(data.corpus) == 8
    assert data.corpus["d1"] == Passage("d1", "Sorting HOW TO", data.corpus["d1"].text)
    assert data.corpus["d6"].title == "" and data.corpus["d4"].title == ""  # no title key; empty title
    assert data.corpus["d8"].text.startswith("Crème brûlée")
    # q4 has only a zero grade and q6 is judged in dev only: neither is a test query.
    assert list(data.queries) == ["q1", "q2", "q3", "q5"]
    assert data.queries["q3"] == "How can I read a zip file without unpacking it?"
    assert data.qrels["q1"] == {"d1": 2, "d3": 1, "d2": 0}  # zero grades are kept for the metrics
    assert data.dropped == Dropped(queries_without_relevant=1)


def test_loads_another_split_and_lists_splits():
    dev = load_beir(TINY, split="dev")
    assert dev.split == "dev" and list(dev.queries) == ["q6"] and dev.qrels == {"q6": {"d3": 1, "d1": 1}}
    assert available_splits(TINY) == ["dev", "test"]


def test_an_unknown_split_lists_the_splits_that_exist():
    with pytest.raises(BeirFormatError, match=r"no split 'train'; the splits here are: dev, test") as caught:
        load_beir(TINY, split="train")
    assert caught.value.file.endswith("qrels/train.tsv")
    with pytest.raises(ValueError, match="not a split name"):
        load_beir(TINY, split="../test")


@pytest.mark.parametrize("prefix", ["scifact/", ""])
def test_a_zip_loads_like_the_folder_from_a_path_bytes_or_a_file(tmp_path, prefix):
    expected = load_beir(TINY)
    data = zip_bytes(TINY, prefix, extra={"__MACOSX/._corpus.jsonl": b"\0\0junk"})
    (tmp_path / "upload.zip").write_bytes(data)
    named = io.BytesIO(data)
    named.name = "upload.zip"  # what a Streamlit upload carries
    for source in (tmp_path / "upload.zip", str(tmp_path / "upload.zip"), data, named, _Unseekable(data)):
        assert same_data(load_beir(source), expected)
    for source in (tmp_path / "upload.zip", data, io.BytesIO(data)):
        assert available_splits(source) == ["dev", "test"]
    assert load_beir(data).name == ("scifact" if prefix else "uploaded zip")
    assert load_beir(tmp_path / "upload.zip").name == ("scifact" if prefix else "upload")
    assert load_beir(data, name="mine").name == "mine"


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_folder_holding_one_dataset_folder_loads_it(tmp_path):
    tiny_copy(tmp_path / "outer", "nfcorpus")
    assert load_beir(tmp_path / "outer").name == "nfcorpus"


def test_several_or_no_datasets_are_refused(tmp_path):
    tiny_copy(tmp_path / "outer", "a")
    tiny_copy(tmp_path / "outer", "b")
    with pytest.raises(BeirFormatError, match=r"in several folders \(a, b\)"):
        load_beir(tmp_path / "outer")
    two = zip_bytes(tmp_path / "outer")
    with pytest.raises(BeirFormatError, match=r"in several folders \(a, b\)"):
        load_beir(two)
    with pytest.raises(BeirFormatError, match="no corpus.jsonl here"):
        load_beir(zip_bytes(TINY / "qrels"))


def test_gzipped_jsonl_is_read(tmp_path):
    folder = tiny_copy(tmp_path)
    for name in ("corpus.jsonl", "queries.jsonl"):
        (folder / f"{name}.gz").write_bytes(gzip.compress((folder / name).read_bytes()))
        (folder / name).unlink()
    assert same_data(load_beir(folder), load_beir(TINY))
    assert same_data(load_beir(zip_bytes(folder, "x/")), load_beir(TINY))


@pytest.mark.parametrize("name", ["../evil.txt", "scifact/../../evil.txt", "/etc/passwd", "C:/evil.txt"])
def test_a_zip_with_an_unsafe_member_name_is_refused(name):
    with pytest.raises(BeirFormatError, match="unsafe member name"):
        load_beir(zip_bytes(TINY, "scifact/", extra={name: b"x"}))


def test_a_zip_over_the_size_limit_is_refused():
    data = zip_bytes(TINY, "scifact/")
    total = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert load_beir(data, max_bytes=total).queries
    with pytest.raises(BeirFormatError, match="refused: .* bytes uncompressed"):
        load_beir(data, max_bytes=total - 1)


def test_bytes_read_count_against_the_limit_not_just_declared_sizes(tmp_path):
    # A gzip member declares its compressed size; what it inflates to is counted as it is read.
    bomb = gzip.compress(b'{"_id": "x", "text": "' + b"a" * 1_000_000 + b'"}\n')
    folder = tiny_copy(tmp_path)
    (folder / "corpus.jsonl").unlink()
    data = zip_bytes(folder, extra={"corpus.jsonl.gz": bomb})
    with pytest.raises(BeirFormatError, match=r"corpus.jsonl.gz: refused: over 100000 bytes"):
        load_beir(data, max_bytes=100_000)


def test_one_huge_line_is_refused_without_holding_it_in_memory(tmp_path, monkeypatch):
    import tracemalloc

    import eval.beir_sources

    monkeypatch.setattr(eval.beir_sources, "MAX_LINE_BYTES", 10_000)
    bomb = gzip.compress(b'{"_id": "x", "text": "' + b"a" * 5_000_000 + b'"}\n')  # 5 MB in ~5 KB
    folder = tiny_copy(tmp_path)
    (folder / "corpus.jsonl").unlink()
    data = zip_bytes(folder, extra={"corpus.jsonl.gz": bomb})
    tracemalloc.start()
    try:
        with pytest.raises(BeirFormatError, match=r"corpus.jsonl.gz, line 1: a line longer than 10000 bytes"):
            load_beir(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak  # far below the 5 MB line


def test_not_a_zip_or_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(BeirFormatError, match="neither a folder nor a zip file"):
        load_beir(b"PK but not really a zip")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BeirFormatError, match="neither a folder nor a zip file"):
        load_beir(tmp_path / "notes.txt")
    with pytest.raises(BeirFormatError, match="no such folder or file"):
        load_beir(tmp_path / "absent")


def _break(tmp_path: Path, file: str, line: int, text: str | None) -> Path:
    """The tiny dataset with one line of ``file`` replaced (or removed when ``text`` is None)."""
    folder = tiny_copy(tmp_path)
    lines = (folder / file).read_text(encoding="utf-8").splitlines()
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    (folder / file).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "file, line, text, message",
    [
        ("corpus.jsonl", 3, '{"_id": "d3", "text": "unterminated}', "not valid JSON"),
        ("corpus.jsonl", 2, '["d2", "a list"]', "must be a JSON object"),
        ("corpus.jsonl", 4, '{"title": "t", "text": "no id"}', 'missing "_id"'),
        ("corpus.jsonl", 4, '{"_id": "", "text": "empty id"}', 'missing "_id"'),
        ("corpus.jsonl", 5, '{"_id": "d5", "title": "no text"}', '"text" must be a string'),
        ("corpus.jsonl", 6, '{"_id": "d1", "text": "again"}', "_id 'd1' repeats line 1"),
        ("queries.jsonl", 2, '{"_id": "q2", "text": 7}', '"text" must be a string'),
        ("qrels/test.tsv", 3, "q1\td3\t1.5", "grade '1.5' is not an integer"),
        ("qrels/test.tsv", 4, "q1 d2 0", "expected 3 tab-separated fields"),
        ("qrels/test.tsv", 5, "\td2\t1", "empty query-id or corpus-id"),
    ],
)
def test_format_errors_name_the_file_and_line(tmp_path, file, line, text, message):
    with pytest.raises(BeirFormatError, match=message) as caught:
        load_beir(_break(tmp_path, file, line, text))
    error = caught.value
    assert error.file.endswith(file) and error.line == line
    assert f"{file}, line {line}: " in str(error)


def test_errors_inside_a_zip_name_the_member(tmp_path):
    folder = _break(tmp_path, "qrels/test.tsv", 2, "q1\td1\ttwo")
    with pytest.raises(BeirFormatError, match=r"^uploaded zip:scifact/qrels/test.tsv, line 2: grade 'two'"):
        load_beir(zip_bytes(folder, "scifact/"))


@pytest.mark.parametrize("missing", ["corpus.jsonl", "queries.jsonl", "qrels"])
def test_missing_files_are_named(tmp_path, missing):
    folder = tiny_copy(tmp_path)
    target = folder / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    expected = {"qrels": "no split 'test'; the splits here are: none"}.get(missing, "missing")
    if missing == "corpus.jsonl":  # then the folder holds no dataset at all
        expected = "no corpus.jsonl here"
    with pytest.raises(BeirFormatError, match=expected):
        load_beir(folder)


def test_text_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    folder = tiny_copy(tmp_path)
    with open(folder / "queries.jsonl", "ab") as f:
        f.write(b'{"_id": "q9", "text": "caf\xe9"}\n')
    with pytest.raises(BeirFormatError, match=r"queries.jsonl, line 7: not UTF-8"):
        load_beir(folder)


def test_unknown_ids_in_the_qrels_are_dropped_counted_and_logged(tmp_path, caplog):
    folder = tiny_copy(tmp_path)
    with open(folder / "qrels" / "test.tsv", "a", encoding="utf-8") as f:
        f.write("q1\tnot-in-corpus\t1\nq3\tgone\t2\nq77\td1\t1\nq2\td2\t1\n")
    with caplog.at_level(logging.WARNING, logger="eval.beir"):
        data = load_beir(folder)
    assert data.dropped == Dropped(
        queries_without_relevant=2, rows_unknown_corpus_id=2, rows_unknown_query_id=1, rows_repeated=1
    )  # q4 as before, and q77, whose one row names no known query
    assert data.qrels["q1"] == {"d1": 2, "d3": 1, "d2": 0}
    assert data.qrels["q2"]["d2"] == 1  # a repeated row keeps its last grade, as BEIR's loader does
    assert "rows_unknown_corpus_id=2" in caplog.text


def test_a_split_without_any_usable_judgment_is_an_error(tmp_path):
    folder = tiny_copy(tmp_path)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tnowhere\t1\nq4\td8\t0\n")
    with pytest.raises(BeirFormatError, match="no query has a positive grade"):
        load_beir(folder)


def test_quirks_of_real_files_are_tolerated(tmp_path):
    folder = tiny_copy(tmp_path)
    corpus = (folder / "corpus.jsonl").read_text(encoding="utf-8")
    # A byte-order mark, CRLF line ends, blank lines and integer ids.
    corpus = "\ufeff" + corpus.replace('"_id": "d7"', '"_id": 7').replace("\n", "\r\n") + "\r\n\r\n"
    (folder / "corpus.jsonl").write_bytes(corpus.encode("utf-8"))
    # No header line: the first line is data.
    (folder / "qrels" / "test.tsv").write_text("q1\t7\t1\r\nq1\td1\t1\r\n")
    data = load_beir(folder)
    assert data.corpus["7"].title == "Tab-separated values"
    assert data.qrels == {"q1": {"7": 1, "d1": 1}}


def write_beir(data: BeirDataset, out: Path) -> Path:
    """``data`` written by the one BEIR writer the eval data sets use (``eval.datasets.write_beir``)."""
    corpus = list(data.corpus.values())
    queries = [datasets.Query(i, text) for i, text in data.queries.items()]
    qrels = {data.split: [(q, d, int(g)) for q, judged in data.qrels.items() for d, g in judged.items()]}
    datasets.write_beir(out, corpus, queries, qrels, provenance={"source": "tests"})
    return out


def test_write_then_load_gives_the_same_dataset(tmp_path):
    original = load_beir(TINY)
    out = write_beir(original, tmp_path / "copy")
    assert (out / "qrels" / "test.tsv").read_text().startswith("query-id\tcorpus-id\tscore\n")
    assert "Crème brûlée" in (out / "corpus.jsonl").read_text(encoding="utf-8")  # not \u escapes
    again = load_beir(out)
    assert same_data(again, BeirDataset(original.name, original.corpus, original.queries, original.qrels))
    assert again.name == "copy"


def test_errors_and_datasets_survive_pickling():
    error = BeirFormatError("corpus.jsonl", "not valid JSON", 3)
    again = pickle.loads(pickle.dumps(error))
    assert (again.file, again.line, str(again)) == ("corpus.jsonl", 3, "corpus.jsonl, line 3: not valid JSON")
    data = load_beir(TINY)
    assert same_data(pickle.loads(pickle.dumps(data)), data)  # Streamlit's cache pickles what it keeps


# --- a dataset we did not build --------------------------------------------------------------------
# We found no PyPI or Debian package that ships a BEIR dataset (tests/eval/fixtures/README.md): this runs on
# whatever folders or zips ASKDOCS_TEST_BEIR names (os.pathsep-separated), e.g. BEIR's own scifact.zip.
EXTERNAL = [Path(p) for p in os.environ.get("ASKDOCS_TEST_BEIR", "").split(os.pathsep) if p]


@pytest.mark.integration
@pytest.mark.parametrize("source", EXTERNAL or [None], ids=[p.name for p in EXTERNAL] or ["none"])
def test_a_beir_dataset_from_elsewhere_loads_and_round_trips(source, tmp_path):
    if source is None:
        pytest.skip("set ASKDOCS_TEST_BEIR to a BEIR folder or zip to run this")
    for split in available_splits(source):
        data = load_beir(source, split)
        assert data.queries and data.corpus
        for query_id, judgments in data.qrels.items():
            assert isinstance(data.queries[query_id], str)
            assert all(doc_id in data.corpus for doc_id in judgments)
            assert any(grade > 0 for grade in judgments.values())
        again = load_beir(write_beir(data, tmp_path / split), split)
        assert (again.corpus, again.queries, again.qrels) == (data.corpus, data.queries, data.qrels)
