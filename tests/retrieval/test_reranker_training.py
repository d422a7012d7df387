"""The reranker's training data (no FAQ test leakage, real negatives, determinism) and a tiny training run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from eval.datasets.python_faq import slugify, split_of
from retrieval.training import reranker_data as rd

LIBRARY = """\
:mod:`shutil` --- High-level file operations
============================================

.. module:: shutil

The shutil module offers a number of high-level operations on files and on collections of files,
in particular functions which support file copying and removal.

Directory and files operations
------------------------------

.. index:: single: copying files

Files are copied with copyfile, copy and copy2, which preserve more or less of the metadata of the
source file, such as permission bits, last access time and flags.

Archiving operations
--------------------

Archives in zip and tar formats are made and unpacked by make_archive and unpack_archive, with gzip,
bzip2 or xz compression where the zlib, bz2 or lzma modules are available.

Examples
--------

An example that copies a directory tree with ignore patterns, and then removes another tree
completely with rmtree and an error handler for read-only files.
"""

OS = """\
:mod:`os` --- Miscellaneous operating system interfaces
=======================================================

This module provides a portable way of using operating system dependent functionality, such as
reading or writing the environment, processes, files and directories.

Process Parameters
------------------

.. index::
   pair: environment; variables

These functions and data items provide information and operate on the current process and user,
such as the environment mapping, the process id and the user and group ids.

Files and Directories
---------------------

Functions such as listdir, mkdir, rename and remove create, inspect, rename and delete files and
directories; many of them accept a directory file descriptor instead of a path.
"""

QUESTIONS = [f"How do I do thing number {n} with files?" for n in range(12)]


def faq_page() -> str:
    parts = ["===============\nProgramming FAQ\n===============\n", "General Questions\n=================\n"]
    for n, question in enumerate(QUESTIONS):
        parts.append(f"{question}\n{'-' * len(question)}\n\nAnswer {n}: use the marker word answer{n}x "
                     f"together with shutil and os functions to do thing number {n}.\n")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs") / "_sources"
    for name, text in {"library/shutil": LIBRARY, "library/os": OS, "faq/programming": faq_page()}.items():
        (root / f"{name}.rst.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{name}.rst.txt").write_text(text, "utf-8")
    return root


def _test_split() -> list[int]:
    return [n for n, q in enumerate(QUESTIONS) if split_of(f"faq/programming/{slugify(q)}") == "test"]


def _groups(sources: Path) -> tuple[rd.Collected, list[rd.TrainingGroup]]:
    collected = rd.collect(sources, min_chars=60)
    chosen = rd.sample(collected.queries, max_headings=100, max_index=100)
    # two stand-in "retrievers" ranking the pool forwards and backwards; the BM25 one is real
    backwards = lambda texts, k: [list(range(len(collected.pool)))[::-1][:k] for _ in texts]  # noqa: E731
    return collected, rd.mine(collected, chosen, rd.bm25_hits(collected.pool), backwards, negatives=2, skip=0)


@pytest.mark.unit
def test_the_fixture_has_questions_in_both_splits() -> None:
    assert 0 < len(_test_split()) < len(QUESTIONS)


@pytest.mark.unit
def test_no_faq_test_question_or_answer_goes_in(sources: Path) -> None:
    collected, groups = _groups(sources)
    texts = [p.text for p in collected.pool] + [q.text for q in collected.queries]
    texts += [t for g in groups for t in (g.query, g.positive, *g.negatives)]
    for n in _test_split():
        assert not any(QUESTIONS[n] in t or f"answer{n}x" in t for t in texts)
    assert collected.excluded_faq_test == len(_test_split())
    dev = [q for q in collected.queries if q.source == "faq-dev"]
    assert len(dev) == len(QUESTIONS) - len(_test_split())


@pytest.mark.unit
def test_the_three_kinds_of_query_are_collected(sources: Path) -> None:
    collected, _ = _groups(sources)
    by_text = {q.text: q for q in collected.queries}
    assert "Examples" not in by_text  # one word: names no single passage
    heading = by_text["Archiving operations"]
    assert "make_archive" in collected.pool[heading.positives[0]].text
    assert "Archiving" not in collected.pool[heading.positives[0]].title  # its own heading stays out
    assert "copyfile" in collected.pool[by_text["copying files"].positives[0]].text
    assert "environment mapping" in collected.pool[by_text["environment variables"].positives[0]].text


@pytest.mark.unit
def test_negatives_differ_from_positives(sources: Path) -> None:
    collected, groups = _groups(sources)
    assert groups
    for g in groups:
        assert len(g.negatives) == 2 and g.positive not in g.negatives and g.positive_id not in g.negative_ids
        assert len(set(g.negative_ids)) == len(g.negative_ids)
        section = g.positive_id.rsplit("/", 1)[0]  # passages of the query's own section are never negatives
        assert all(i.rsplit("/", 1)[0] != section for i in g.negative_ids)


@pytest.mark.unit
def test_building_twice_gives_the_same_groups(sources: Path) -> None:
    assert _groups(sources)[1] == _groups(sources)[1]


@pytest.mark.unit
def test_index_entries_become_readable_queries() -> None:
    assert rd.index_queries("", ["pair: built-in function; len"]) == ["built-in function len"]
    assert rd.index_queries("statement: try", []) == ["try statement"]
    assert rd.index_queries("single: !copyfile; shutil", [":name: x"]) == ["copyfile shutil"]
    assert rd.index_queries("module: sys", []) == ["sys module"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_tiny_training_run_saves_a_working_cross_encoder(sources: Path, tmp_path: Path) -> None:
    from retrieval.rerank import CrossEncoderReranker
    from retrieval.training.train_reranker import train

    _, groups = _groups(sources)
    args = argparse.Namespace(out=tmp_path / "ce", max_steps=2, max_length=64, groups_per_step=2, negatives=2,
                              lr=5e-5, seed=1, freeze_embeddings=True, time_budget_min=0, log_every=1)
    result = train(groups, args)
    assert result["steps"] == 2 and (tmp_path / "ce" / "model.safetensors").stat().st_size < 50_000_000
    reranker = CrossEncoderReranker(str(tmp_path / "ce"), device="cpu", max_length=64)
    assert str(next(reranker._model.model.parameters()).dtype) == "torch.float32"  # cast up from fp16
    scores = reranker.score("copy a file", ["Files are copied with copyfile.", "Archives are made."])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)
