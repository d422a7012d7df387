"""The Zsh-FAQ benchmark: parsing a few real-format entries, then whole builds from tiny .debs.

Nothing here uses the network: the .debs are made from ``fixtures/zsh`` with ``dpkg-deb --build``
and put into the cache, where the builder takes them as it takes downloaded ones.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from eval.datasets.debian import DEFAULT_CACHE, DebPackage
from eval.datasets.info_manual import manual_sections
from eval.datasets.zsh_faq import (
    ZshDocs,
    build_benchmark,
    build_zsh_faq,
    faq_blocks,
    faq_entries,
    licence_of,
    main,
    split_of,
)

FIXTURES = Path(__file__).with_name("fixtures") / "zsh"
VERSION = "5.9-4"


@pytest.fixture(scope="module")
def faq_text() -> str:
    return (FIXTURES / "FAQ").read_text("utf-8")


@pytest.fixture(scope="module")
def info_text() -> str:
    return (FIXTURES / "zsh.info-1").read_text("utf-8")


@pytest.fixture(scope="module")
def answers(faq_text: str) -> dict[str, str]:
    return {e.number: e.answer for e in faq_entries(faq_blocks(faq_text))}


@pytest.fixture(autouse=True)
def no_downloads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the test of the real packages may fetch them (with `apt-get download`, as python-faq's does)."""
    if request.node.get_closest_marker("integration"):
        return

    def refuse(*args: object) -> None:
        raise AssertionError("the test tried to download a package")

    monkeypatch.setattr("eval.datasets.debian._download", refuse)


# -- the FAQ ---------------------------------------------------------------------------------------
@pytest.mark.unit
def test_headings_are_set_off_by_two_blank_lines_and_the_contents_list_is_skipped(faq_text: str) -> None:
    blocks = faq_blocks(faq_text)
    assert [b.heading for b in blocks] == [
        "Chapter 1: Introducing zsh and how to install it",
        "1.2: What is it?",
        "1.8: Which heading, written for the tests, is long enough that it wraps onto a second line?",
        "Chapter 3: How to get various things to work",
        "3.13: How do I get a newline in my prompt?",
        "3.19: How do I list all my history entries?",
        "3.31: Where are the options listed?",
        "Acknowledgments:",
        "Copyright Information:",
    ]  # not "1.2. What is it?" of the contents, not the set-off paragraph inside 1.8
    assert blocks[1].line == faq_text.split("\n").index("1.2: What is it?") + 1


@pytest.mark.unit
def test_entries_have_number_question_and_chapter(faq_text: str) -> None:
    entries = faq_entries(faq_blocks(faq_text))
    assert [(e.number, e.question) for e in entries] == [
        ("1.2", "What is it?"),
        ("1.8", "Which heading, written for the tests, is long enough that it wraps onto a second line?"),
        ("3.13", "How do I get a newline in my prompt?"),
        ("3.19", "How do I list all my history entries?"),
        ("3.31", "Where are the options listed?"),
    ]
    assert {e.number: e.chapter for e in entries}["1.8"] == "Chapter 1: Introducing zsh and how to install it"
    assert {e.chapter for e in entries[2:]} == {"Chapter 3: How to get various things to work"}


@pytest.mark.unit
def test_an_answer_runs_to_the_next_heading_of_any_kind(answers: dict[str, str]) -> None:
    assert answers["1.8"] == (
        "A paragraph set off by two blank lines is not a heading\n  when it is longer than a line and not "
        "numbered.\n\nSo this answer goes on, up to the next chapter."
    )
    assert answers["3.19"] == (
        "Tell zsh to start from entry 1: `history 1'.  Those entries at the\n"
        "  start which are no longer in memory will be silently omitted."
    )  # not the next question, nor the closing sections after the last one
    assert answers["3.31"] == "See 3.2."
    everything = "\n".join(answers.values())
    assert "An introduction to the chapter" not in everything and "Bart Schaefer" not in everything
    assert "What is it?" not in everything


@pytest.mark.unit
def test_examples_stay_indented_and_blank_lines_are_tidied(answers: dict[str, str]) -> None:
    prompt = answers["3.13"]
    assert prompt.startswith(
        'You can place a literal newline in quotes, i.e.\n\n    PROMPT="Hi Joe,\n'
        '    what now?%# "\n\n  If you have'
    )  # the "  " lines around it became blank
    assert all(line == line.rstrip() for line in prompt.split("\n")) and "\n\n\n" not in prompt


# -- the manual ------------------------------------------------------------------------------------
@pytest.mark.unit
def test_manual_sections_follow_underlined_headings_without_menus_or_indices(info_text: str) -> None:
    sections = list(manual_sections([info_text]))
    assert [path for path, _ in sections] == [
        ("7 Redirection",),
        ("7 Redirection", "7.1 Opening file descriptors using parameters"),
        (
            "7 Redirection",
            "7.1 Opening file descriptors using parameters",
            "7.1.1 A subsection written for the tests",
        ),
    ]  # no Top node, no Concept Index
    redirection = sections[0][1]
    assert "input/output\nspecifications; see Command Execution.\n\n< WORD" in redirection  # *note X:: -> X
    assert "Menu" not in redirection and "::" not in redirection
    above = "A sentence above its node's heading, as one node of the real manual has."
    assert sections[1][1].startswith(f"{above}\n\nWhen the shell is parsing")  # kept, with its section
    assert sections[1][1].endswith("For example:\n\n     ...  {myfd}>&1")


# -- the benchmark ---------------------------------------------------------------------------------
@pytest.mark.unit
def test_benchmark_drops_pointers_titles_with_the_chapter_and_picks_distractors(faq_text, info_text) -> None:
    bench = build_benchmark(faq_text, [info_text], distractors=10)
    assert [q.id for q in bench.queries] == [
        "faq/what-is-it",
        "faq/which-heading-written-for-the-tests-is-long-enough-that-it-wraps-onto-a-second-line",
        "faq/how-do-i-get-a-newline-in-my-prompt",
        "faq/how-do-i-list-all-my-history-entries",
    ]
    assert bench.dropped_short == ("faq/where-are-the-options-listed",)  # "See 3.2." is only a pointer
    corpus = {p.id: p for p in bench.corpus}
    chapter_1 = "Chapter 1: Introducing zsh and how to install it"
    assert corpus["faq/what-is-it/1"].title == f"Zsh FAQ \u203a {chapter_1}"
    for query in bench.queries:  # a passage's title never gives its question away
        assert all(query.text not in corpus[c].title for q, c, _ in bench.qrels if q == query.id)
    distractors = sorted(p.id for p in bench.corpus if p.id.startswith("manual/"))
    assert distractors == [
        "manual/7-1-1-a-subsection-written-for-the-tests/1",
        "manual/7-1-opening-file-descriptors-using-parameters/1",
        "manual/7-redirection/1",
    ]
    assert corpus["manual/7-redirection/1"].title == "Zsh manual \u203a 7 Redirection"
    fewer = build_benchmark(faq_text, [info_text], distractors=2)
    assert {p.id for p in fewer.corpus if p.id.startswith("manual/")} < set(distractors)


@pytest.mark.unit
def test_split_is_stable_and_about_half() -> None:
    # Pinned: dev is for tuning and training, test only reported, so these must never move.
    assert split_of("faq/how-do-i-get-a-newline-in-my-prompt") == "dev"
    assert split_of("faq/why-does-var-where-var-foo-bar-not-do-what-i-expect") == "dev"
    assert split_of("faq/what-is-it") == "test"
    assert split_of("faq/in-which-startup-file-do-i-put") == "test"
    dev = sum(split_of(f"faq/question-{i}") == "dev" for i in range(4000))
    assert 1900 < dev < 2100


# -- whole builds, from .debs made here --------------------------------------------------------------
def _deb(cache: Path, package: str, files: dict[str, bytes]) -> Path:
    tree = cache.parent / f"tree-{package}"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {VERSION}\nArchitecture: all\nMaintainer: tests <t@example.org>\n"
        "Description: a tiny stand-in for the real package\n"
    )
    for name, data in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    cache.mkdir(parents=True, exist_ok=True)
    deb = cache / f"{package}_{VERSION}_all.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(tree)
    return deb


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _fake_debs(cache: Path) -> None:
    _deb(
        cache,
        "zsh-common",
        {
            "usr/share/doc/zsh-common/FAQ.gz": _gz((FIXTURES / "FAQ").read_bytes()),
            "usr/share/doc/zsh-common/copyright": (FIXTURES / "copyright").read_bytes(),
        },
    )
    _deb(
        cache,
        "zsh-doc",
        {
            "usr/share/info/zsh.info.gz": _gz(b"Tag Table:\n"),
            "usr/share/info/zsh.info-1.gz": _gz((FIXTURES / "zsh.info-1").read_bytes()),
        },
    )


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.mark.integration
def test_build_from_cached_debs_writes_beir_and_provenance_deterministically(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "debs"
    _fake_debs(cache)
    assert main(["--out", str(tmp_path / "a"), "--cache", str(cache)]) == 0
    assert "queries: 4 (2 dev, 2 test); corpus: 7 (4 relevant, 3 distractors)" in capsys.readouterr().out
    provenance = json.loads((tmp_path / "a" / "provenance.json").read_text())
    source = provenance["source"]
    assert (source["package"], source["version"]) == ("zsh-common", VERSION)
    assert source["deb"] == f"zsh-common_{VERSION}_all.deb"
    assert source["distractor_package"]["package"] == "zsh-doc" and len(source["sha256"]) == 64
    assert source["distractors"] == ["usr/share/info/zsh.info-1.gz"]
    assert provenance["counts"]["dropped_short_answers"] == ["faq/where-are-the-options-listed"]
    licence = provenance["licence"]
    assert licence["faq_terms"][0].startswith("This document is copyright (C) P.W. Stephenson, 1995")
    assert "two paragraphs appear in all copies" in " ".join(licence["zsh_licence"].split())
    assert licence["manual_copyright"].startswith("1992-2022 The Zsh Development Group")
    for split in ("dev", "test"):
        lines = (tmp_path / "a" / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]
        rows = [line.split("\t") for line in lines]
        assert rows and all(split_of(q) == split for q, _, _ in rows)
    assert len(_rows(tmp_path / "a" / "corpus.jsonl")) == 7

    build_zsh_faq(tmp_path / "b", cache)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/dev.tsv", "qrels/test.tsv", "provenance.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.unit
def test_changed_licence_terms_stop_the_build(tmp_path: Path, faq_text: str) -> None:
    root = tmp_path / "root"
    (root / "usr/share/doc/zsh-common").mkdir(parents=True)
    copyright_text = (FIXTURES / "copyright").read_text().replace("License: PWS-Zsh-FAQ", "License: other")
    (root / "usr/share/doc/zsh-common/copyright").write_text(copyright_text)
    package = DebPackage(tmp_path / "x.deb", VERSION, "0" * 64, root)
    with pytest.raises(RuntimeError, match="licence texts changed"):
        licence_of(ZshDocs(package, package), faq_blocks(faq_text))


@pytest.mark.integration
def test_the_runner_builds_zsh_faq_from_the_data_dirs_cache(tmp_path: Path) -> None:
    from eval.__main__ import BUILDERS
    from eval.runner import BUILT_DATASETS, prepared_dataset
    from tests.conftest import make_settings

    assert set(BUILDERS) == set(BUILT_DATASETS) and "zsh-faq" in BUILT_DATASETS
    settings = make_settings(tmp_path / "data")
    _fake_debs(settings.data_dir / "eval" / "debs")
    folder = prepared_dataset("zsh-faq", settings)
    assert folder == settings.data_dir / "eval" / "datasets" / "zsh-faq"
    assert json.loads((folder / "provenance.json").read_text())["counts"]["queries"] == 4


@pytest.mark.integration
@pytest.mark.slow
def test_retrieval_cli_takes_zsh_faq_by_name(tmp_path: Path) -> None:
    from tests.eval.test_cli import run_eval

    _fake_debs(tmp_path / "data" / "eval" / "debs")
    run = run_eval(
        "retrieval",
        "--dataset",
        "zsh-faq",
        "--split",
        "dev",
        "--configs",
        "bm25",
        "--out",
        str(tmp_path / "run"),
        data_dir=tmp_path / "data",
    )
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "run" / "run.json").read_text())["dataset"]["queries"] == 2
    both = run_eval("retrieval", "--dataset", "zsh-faq", "--beir", str(tmp_path), data_dir=tmp_path / "data")
    assert both.returncode == 2 and "not allowed with" in both.stderr


# -- the real packages -----------------------------------------------------------------------------
@pytest.mark.integration
def test_real_benchmark_is_sane(tmp_path: Path) -> None:
    # fetches both .debs with `apt-get download` into the cache when they are not there, as python-faq's does
    provenance = build_zsh_faq(tmp_path / "real", DEFAULT_CACHE)
    counts = provenance["counts"]
    assert counts["queries"] >= 50 and counts["queries_dev"] > 15 and counts["queries_test"] > 15
    assert counts["distractors"] > 1000
    corpus = {row["_id"]: row for row in _rows(tmp_path / "real" / "corpus.jsonl")}
    queries = {row["_id"]: row["text"] for row in _rows(tmp_path / "real" / "queries.jsonl")}
    assert "How do I get a newline in my prompt?" in queries.values()
    for split in ("dev", "test"):
        for line in (tmp_path / "real" / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]:
            q, c, _ = line.split("\t")
            assert queries[q] not in corpus[c]["title"] and 0 < len(corpus[c]["text"]) <= 1200
            assert corpus[c]["title"].startswith("Zsh FAQ \u203a Chapter ")
