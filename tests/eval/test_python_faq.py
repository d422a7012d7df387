"""The Python-FAQ benchmark: reST parsing on a hand-written page, then the real build from the .deb."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from eval.datasets.python_faq import (
    DEFAULT_CACHE,
    DocsUnavailable,
    build_benchmark,
    build_python_faq,
    faq_entries,
    fetch_docs,
    inline_text,
    parse_sections,
    rest_to_text,
    section_labels,
    split_of,
    split_passages,
)

FIXTURE = Path(__file__).with_name("fixtures") / "faq_sample.rst.txt"
CACHE = DEFAULT_CACHE  # .askdocs/eval-data/debs in the repo: kept between runs, so the .deb is fetched once


@pytest.fixture(scope="module")
def sections():
    return parse_sections(FIXTURE.read_text("utf-8"))


@pytest.fixture(scope="module")
def answers(sections) -> dict[str, str]:
    refs = section_labels(sections)
    return {e.question: rest_to_text(e.answer, refs) for e in faq_entries(sections)}


# -- headings and questions ------------------------------------------------------------------------
@pytest.mark.unit
def test_heading_levels_follow_the_order_styles_first_appear(sections) -> None:
    assert [(s.level, s.title) for s in sections] == [
        (0, "Tiny FAQ"),
        (1, "Basics"),
        (2, "How do I use len() on a dict?"),  # roles and literals stripped from the heading
        (2, "How do I copy an object?"),
        (2, "My class defines __del__ but it is not called."),
        (2, "Why is there a sub-heading here?"),
        (3, "On Windows"),
        (1, "Empty group"),
        (1, "Tools"),
        (2, "Is there a debugger?"),
    ]
    assert sections[2].labels == ("faq-len",) and sections[3].labels == ("faq-copy",)


@pytest.mark.unit
def test_questions_are_question_headings_and_leaf_entries_not_groups(sections) -> None:
    entries = faq_entries(sections)
    assert [e.question for e in entries] == [
        "How do I use len() on a dict?",
        "How do I copy an object?",
        "My class defines __del__ but it is not called.",  # a leaf entry phrased as a statement
        "Why is there a sub-heading here?",  # its sub-heading "On Windows" is part of the answer
        "Is there a debugger?",
    ]  # not "Basics" / "Tools" (they have children), not "Empty group" (no text)
    assert entries[0].path == ("Tiny FAQ", "Basics") and entries[-1].path == ("Tiny FAQ", "Tools")


@pytest.mark.unit
def test_an_answer_runs_to_the_next_heading_of_its_level_without_its_own_heading(answers) -> None:
    assert answers["Why is there a sub-heading here?"] == (
        "The answer starts here.\n\nOn Windows\n\nWindows does it differently, with py.exe."
    )
    assert "Intro text" not in "".join(answers.values())
    for question, answer in answers.items():
        assert question not in answer.split("\n")


# -- reST to text ----------------------------------------------------------------------------------
@pytest.mark.unit
def test_roles_links_emphasis_and_references_become_their_text(answers) -> None:
    assert answers["How do I use len() on a dict?"].split("\n\n")[0] == (
        "Call len() on it; see How do I copy an object? and the collections docs. "
        "It counts keys, not values, as described in the reference manual."
    )


@pytest.mark.unit
def test_code_is_kept_and_directives_are_rendered_or_dropped(answers) -> None:
    first = answers["How do I use len() on a dict?"]
    assert '    d = {"a": 1}\n    assert len(d) == 1' in first  # code-block: code kept, indented
    assert "New in version 3.0. Dict views." in first
    assert "index" not in first and "single:" not in first and ".." not in first
    copy = answers["How do I copy an object?"]
    assert copy.startswith("Use copy() or slicing, for example:\n\n    new = old[:]\n")  # "::" -> ":" + block
    assert "    # a comment after a blank line stays in the literal block" in copy
    assert "Note: Shallow copies share their items." in copy
    assert "    >>> [1, 2][:]\n    [1, 2]" in copy  # a doctest block
    assert "faq-copy" not in copy


@pytest.mark.unit
@pytest.mark.parametrize(
    ("source", "text"),
    [
        (":func:`len`", "len()"),
        (":meth:`dict.get`", "dict.get()"),
        (":func:`print(x) <print>`", "print(x)"),  # an explicit title gets no parentheses
        (":meth:`~collections.OrderedDict.move_to_end`", "move_to_end()"),
        (":class:`!Foo`", "Foo"),
        (":pep:`8`", "PEP 8"),
        (":rfc:`2822#section-3`", "RFC 2822"),
        (":c:func:`PyErr_Print`", "PyErr_Print()"),
        (":ref:`the tutorial <tut-intro>`", "the tutorial"),
        (":ref:`unknown-label`", "unknown-label"),
        (":file:`{prefix}/lib`", "prefix/lib"),
        ("``*args`` and ``**kw``", "*args and **kw"),
        ("``0`` then ``None``", "0 then None"),
        ("`Python <https://python.org>`_ and `anon <https://x.org>`__", "Python and anon"),
        ("*emphasis* and **strong**", "emphasis and strong"),
        ("a*b*c stays, as does 2 * 3 * 4", "a*b*c stays, as does 2 * 3 * 4"),
        (r"escaped \*star\* and join\ ed", "escaped *star* and joined"),
        (":mod:`os` --- Miscellaneous", "os \u2014 Miscellaneous"),
        ("Footnote here [#]_.", "Footnote here."),
        ("a role split\nover :func:`two\nlines`", "a role split\nover two\nlines()"),
    ],
)
def test_inline_markup(source: str, text: str) -> None:
    assert inline_text(source) == text


@pytest.mark.unit
def test_object_directives_keep_signature_with_description() -> None:
    text = rest_to_text(
        [
            ".. function:: remove(path, *, dir_fd=None)",
            "              unlink(path)",
            "",
            "   Remove the file *path*.",
            "",
            "   .. audit-event:: os.remove path,dir_fd os.remove",
            "",
            "   .. availability:: Unix, Windows.",
        ]
    )
    assert text == (
        "remove(path, *, dir_fd=None)\nunlink(path)\nRemove the file path.\n\n"
        "Raises an auditing event os.remove with arguments path, dir_fd.\n\nAvailability: Unix, Windows."
    )


@pytest.mark.unit
def test_literal_block_after_a_list_item_ends_at_the_item_text() -> None:
    text = rest_to_text(
        [
            "* the script defines its own usage message::",
            "",
            '     usage = "usage: %prog"',
            "",
            "  :mod:`optparse` expands ``%prog``.",
        ]
    )
    assert text == (
        '* the script defines its own usage message:\n\n    usage = "usage: %prog"\n\noptparse expands %prog.'
    )


# -- passages --------------------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    return text.split()


@pytest.mark.unit
def test_short_answers_stay_whole() -> None:
    assert split_passages("One paragraph.\n\nAnother.", 1200) == ["One paragraph.\n\nAnother."]


@pytest.mark.unit
def test_long_answers_split_into_balanced_passages_at_paragraphs() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 40 for i in range(10)]  # ~10 x 225 characters
    text = "\n\n".join(p.strip() for p in paragraphs)
    pieces = split_passages(text, 1200)
    assert len(pieces) == 2 and all(len(p) <= 1200 for p in pieces)
    assert abs(len(pieces[0]) - len(pieces[1])) < 300  # balanced, not 1,200 + a scrap
    assert _words(" ".join(pieces)) == _words(text)  # nothing lost, nothing repeated
    assert all(p.startswith("Paragraph") for p in pieces)  # cut between paragraphs


@pytest.mark.unit
def test_code_stays_with_its_introduction_and_huge_paragraphs_are_cut() -> None:
    intro, code = "For example:", "\n".join(f"    x{i} = {i}" for i in range(5))
    filler = "\n\n".join("Sentence number %d is here. " % i * 8 for i in range(4))
    pieces = split_passages(f"{filler}\n\n{intro}\n\n{code}", 600)
    assert any(f"{intro}\n\n{code}" in p for p in pieces)
    huge = "A sentence that goes on. " * 200  # one 5,000-character paragraph
    cut = split_passages(huge.strip(), 1200)
    assert len(cut) >= 5 and all(len(p) <= 1200 for p in cut) and all(p.endswith("on.") for p in cut)
    assert _words(" ".join(cut)) == _words(huge)


# -- splitting queries -----------------------------------------------------------------------------
@pytest.mark.unit
def test_split_is_stable_and_about_half() -> None:
    # Pinned: another issue trains on the dev split only, so these must never move.
    assert split_of("faq/programming/how-do-i-copy-an-object-in-python") == "test"
    assert split_of("faq/design/why-are-python-strings-immutable") == "test"
    assert split_of("faq/library/how-do-i-copy-a-file") == "test"
    assert split_of("faq/general/what-is-python") == "dev"
    assert split_of("faq/design/why-are-floating-point-calculations-so-inaccurate") == "dev"
    assert split_of("faq/general/why-is-it-called-python") == "test"
    dev = sum(split_of(f"faq/x/question-{i}") == "dev" for i in range(4000))
    assert 1900 < dev < 2100


# -- a small benchmark from a fake _sources tree ---------------------------------------------------
def _tree(root: Path) -> Path:
    (root / "faq").mkdir(parents=True)
    (root / "library").mkdir()
    (root / "faq" / "a.rst.txt").write_text(FIXTURE.read_text("utf-8"))
    (root / "faq" / "b.rst.txt").write_text(
        "B FAQ\n=====\n\nHow do I copy an object?\n------------------------\n\n"
        "In page B, with :mod:`copy` and its deepcopy function for nested containers.\n"
    )
    sections = "\n\n".join(
        f"Section {i}\n----------\n\n" + f"Library text {i} about topic {i}. " * 8 for i in range(30)
    )
    page = f":mod:`mod` --- A module\n========================\n\n{sections}\n"
    (root / "library" / "mod.rst.txt").write_text(page)
    return root


@pytest.mark.unit
def test_benchmark_merges_repeated_questions_drops_scraps_and_picks_distractors(tmp_path: Path) -> None:
    sources = _tree(tmp_path / "_sources")
    bench = build_benchmark(sources, distractors=10)
    ids = [q.id for q in bench.queries]
    assert "faq/a/how-do-i-copy-an-object" in ids
    assert bench.merged_duplicates == ("faq/b/how-do-i-copy-an-object",)
    relevant = {c for q, c, _ in bench.qrels if q == "faq/a/how-do-i-copy-an-object"}
    assert relevant == {"faq/a/how-do-i-copy-an-object/1", "faq/b/how-do-i-copy-an-object/1"}
    assert bench.dropped_short == ("faq/a/is-there-a-debugger",)  # "Yes: pdb." is nothing to retrieve by
    corpus = {p.id: p for p in bench.corpus}
    assert {c for _, c, _ in bench.qrels} <= set(corpus)
    distractors = [p for p in bench.corpus if p.id.startswith("library/")]
    assert len(distractors) == 10 and bench.distractor_candidates == 30
    assert distractors[0].title.startswith("mod \u2014 A module \u203a Section")
    smaller = build_benchmark(sources, distractors=4)
    assert {p.id for p in smaller.corpus if p.id.startswith("library/")} < {p.id for p in distractors}
    for query in bench.queries:  # a passage's title never gives its question away
        assert all(query.text not in corpus[c].title for q, c, _ in bench.qrels if q == query.id)


@pytest.mark.unit
def test_missing_apt_lists_give_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    apt = fake_bin / "apt-get"
    apt.write_text("#!/bin/sh\necho 'E: Unable to locate package python3.11-doc' >&2\nexit 100\n")
    apt.chmod(apt.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr("eval.datasets.python_faq.APT_LISTS", tmp_path / "no-lists")
    with pytest.raises(
        DocsUnavailable, match=r"apt has no package lists, so it cannot find .*: run `apt-get update`"
    ):
        fetch_docs(tmp_path / "cache")


# -- the real thing --------------------------------------------------------------------------------
def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


@pytest.mark.integration
def test_real_benchmark_is_sane_and_deterministic(tmp_path: Path) -> None:
    provenance = build_python_faq(tmp_path / "a", CACHE, distractors=2000)
    out = tmp_path / "a"
    corpus = {row["_id"]: row for row in _rows(out / "corpus.jsonl")}
    queries = {row["_id"]: row["text"] for row in _rows(out / "queries.jsonl")}
    qrels = {}
    for split in ("dev", "test"):
        lines = (out / "qrels" / f"{split}.tsv").read_text().splitlines()
        assert lines[0] == "query-id\tcorpus-id\tscore"
        qrels[split] = [line.split("\t") for line in lines[1:]]
        assert all(score == "1" and c in corpus and q in queries for q, c, score in qrels[split])
        assert all(split_of(q) == split for q, _, _ in qrels[split])
    dev, test = ({q for q, _, _ in qrels[s]} for s in ("dev", "test"))
    assert dev and test and not dev & test and dev | test == set(queries)
    assert 0.35 < len(dev) / len(queries) < 0.65
    counts = provenance["counts"]
    assert counts["queries"] == len(queries) > 150 and counts["distractors"] == 2000
    assert len(corpus) == counts["relevant_passages"] + 2000
    for q, c, _ in qrels["dev"] + qrels["test"]:
        passage = corpus[c]
        assert queries[q] not in passage["text"].split("\n") and queries[q] not in passage["title"]
        assert 0 < len(passage["text"]) <= 1200
    assert "How do I copy an object in Python?" in queries.values()
    source, licence = provenance["source"], provenance["licence"]
    assert source["deb"].startswith("python3.11-doc_") and len(source["sha256"]) == 64
    assert "PSF License" in licence["text"] and "Zero-Clause BSD" in licence["code_examples"]
    build_python_faq(tmp_path / "b", CACHE, distractors=2000)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/dev.tsv", "qrels/test.tsv", "provenance.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
