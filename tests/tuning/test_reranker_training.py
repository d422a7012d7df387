"""The reranker's training data (no FAQ test leakage, real negatives, determinism) and a tiny training run."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from eval.datasets.python_faq import slugify, split_of
from tests.support.generators import ScriptedGenerator
from tuning import reranker_data as rd

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

# passages of 200+ characters, as synthetic questions need (the pages above have none)
JSON_PAGE = """\
:mod:`json` --- JSON encoder and decoder
========================================

Basic usage
-----------

The dumps function serializes an object to a JSON formatted string and loads parses a string, bytes or
bytearray holding a JSON document into Python objects; both take keyword arguments for indentation,
separators and key sorting.

Encoders and decoders
---------------------

JSONEncoder is extensible: subclass it and override its default method to return a serializable object
for types it does not know, or call the base implementation to raise a TypeError for them; JSONDecoder
takes hooks that turn each decoded object or pair list into another type.

Exceptions
----------

JSONDecodeError is a subclass of ValueError, raised when the document being parsed is not valid JSON;
its attributes give the unformatted message, the document being parsed, the position where parsing
failed and the line and column of that position.
"""

QUESTIONS = [f"How do I do thing number {n} with files?" for n in range(12)]


def faq_page() -> str:
    parts = ["===============\nProgramming FAQ\n===============\n", "General Questions\n=================\n"]
    for n, question in enumerate(QUESTIONS):
        parts.append(
            f"{question}\n{'-' * len(question)}\n\nAnswer {n}: use the marker word answer{n}x "
            f"together with shutil and os functions to do thing number {n}.\n"
        )
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


def _backwards(collected: rd.Collected) -> rd.Hits:
    """A stand-in dense "retriever" ranking the pool backwards, whatever the query."""
    return lambda texts, k: [list(range(len(collected.pool)))[::-1][:k] for _ in texts]


def _groups(sources: Path) -> tuple[rd.Collected, list[rd.TrainingGroup]]:
    collected = rd.collect(sources, min_chars=60)
    chosen = rd.sample(collected.queries, max_headings=100, max_index=100)
    # two stand-in "retrievers" ranking the pool forwards and backwards; the BM25 one is real
    return collected, rd.mine(
        collected, chosen, rd.bm25_hits(collected.pool), _backwards(collected), negatives=2, skip=0
    )


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
    from retrieval.rerankers.cross_encoder import CrossEncoderReranker
    from tuning.train_reranker import train

    _, groups = _groups(sources)
    args = argparse.Namespace(
        out=tmp_path / "ce",
        max_steps=2,
        max_length=64,
        groups_per_step=2,
        negatives=2,
        lr=5e-5,
        seed=1,
        freeze_embeddings=True,
        time_budget_min=0,
        log_every=1,
    )
    result = train(groups, args)
    assert result["steps"] == 2 and (tmp_path / "ce" / "model.safetensors").stat().st_size < 50_000_000
    reranker = CrossEncoderReranker(str(tmp_path / "ce"), device="cpu", max_length=64)
    assert str(next(reranker._model.model.parameters()).dtype) == "torch.float32"  # cast up from fp16
    scores = reranker.score("copy a file", ["Files are copied with copyfile.", "Archives are made."])
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)


@pytest.mark.integration
@pytest.mark.slow
def test_training_twice_with_one_seed_gives_the_same_weights(sources: Path, tmp_path: Path) -> None:
    """What "the training command reproduces the model" rests on: same data and seed, same bytes."""
    from tuning.train_reranker import train

    _, groups = _groups(sources)
    weights = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        args = argparse.Namespace(
            out=tmp_path / name,
            max_steps=3,
            max_length=64,
            groups_per_step=2,
            negatives=2,
            lr=5e-5,
            seed=seed,
            freeze_embeddings=True,
            time_budget_min=0,
            log_every=1,
        )
        train(groups, args)
        weights.append((tmp_path / name / "model.safetensors").read_bytes())
    assert weights[0] == weights[1]
    assert weights[0] != weights[2]  # the seed does reach the weights, so the equality above means something


@pytest.mark.unit
def test_the_card_says_whether_the_fused_model_loses_on_the_smoke_set() -> None:
    from tuning.smoke_check import card_line

    losing = card_line({"retrieval": 0.938, "fused": 0.838, "replacing": 0.411})
    assert "fused with this model (rrf) 0.8380, which **loses** against retrieval" in losing
    assert "does not lose" in card_line({"retrieval": 0.938, "fused": 0.938, "replacing": 0.5})
    assert "could not run (OSError: offline)" in card_line({"error": "OSError: offline"})


# -- synthetic questions ----------------------------------------------------------------------------------
class FakeGenerator(ScriptedGenerator):
    """A Generator that writes "Which ... WORD?" about the passage's longest word, or refuses on "Archives".

    ``fail_after``: raise on that call, as a run killed mid-way would stop.
    """

    def __init__(self, name: str = "fake:gen", fail_after: int | None = None) -> None:
        super().__init__(name=name)
        self.fail_after, self.calls = fail_after, 0

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        max_tokens: int,
        temperature: float = 0.0,
        stop: threading.Event | None = None,
    ) -> Iterator[str]:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        passage = messages[-1]["content"].split("\n\n")[1]
        if "Archives" in passage:
            self.enqueue("Sorry, I cannot.")  # not a question: dropped by the cleaning
        else:
            word = max(passage.split(), key=lambda w: (len(w), w)).strip(".,:;")
            self.enqueue(f'**Q: "Which part of the text mentions {word}?"**\nAnswer: ...')
        return super().stream(messages, max_tokens, temperature, stop)


def _with_a_copied_test_answer(sources: Path, tmp_path: Path) -> Path:
    """The fixture's tree plus a library page that repeats a FAQ test answer word for word."""
    import shutil

    root = tmp_path / "_sources"
    shutil.copytree(sources, root)
    n = _test_split()[0]
    answer = (
        f"Answer {n}: use the marker word answer{n}x together with shutil and os functions to do "
        f"thing number {n}."
    )
    (root / "library" / "copied.rst.txt").write_text(
        f"Copied answers\n==============\n\nAn introduction to the copied page, long enough to be a passage "
        f"of the pool on its own.\n\nThe copy\n--------\n\n{answer}\n",
        "utf-8",
    )
    return root


@pytest.mark.unit
def test_synthetic_sources_are_doc_passages_and_never_a_faq_test_answer(
    sources: Path, tmp_path: Path
) -> None:
    from tuning.synthetic import source_positions

    collected = rd.collect(_with_a_copied_test_answer(sources, tmp_path), min_chars=60)
    test_markers = [f"answer{n}x" for n in _test_split()]
    copied = [i for i, p in enumerate(collected.pool) if any(m in p.text for m in test_markers)]
    assert copied  # the copy is in the pool (as a negative it does no harm)...
    assert len(collected.faq_test_answers) == len(_test_split())
    chosen = source_positions(collected, 1000, min_chars=60)
    assert chosen and not set(copied) & set(chosen)  # ...but never a source
    assert all(collected.pool[i].section.split("/")[0] in rd.POOL_DIRS for i in chosen)  # no FAQ page
    texts = [collected.pool[i].body for i in chosen]
    assert not any(m in t or QUESTIONS[n] in t for t in texts for n, m in zip(_test_split(), test_markers))
    assert source_positions(collected, 3, min_chars=60) == chosen[:3]  # a larger N only adds passages
    reordered = rd.Collected(collected.pool[::-1], (), 0, collected.faq_test_answers)
    assert [reordered.pool[i].id for i in source_positions(reordered, 3, min_chars=60)] == [
        collected.pool[i].id for i in chosen[:3]
    ]  # the pool's order does not matter


@pytest.mark.unit
def test_synthetic_questions_are_cleaned_cached_and_resumed(sources: Path, tmp_path: Path) -> None:
    import io
    import json

    from tuning.synthetic import CacheInUse, ReplyCache, progress_printer, synthetic_queries

    collected = rd.collect(sources, min_chars=60)
    path = tmp_path / "cache" / "synthetic-questions.jsonl"
    killed = FakeGenerator(fail_after=2)
    with ReplyCache(path, killed) as cache, pytest.raises(KeyboardInterrupt):
        synthetic_queries(collected, 100, cache, progress=lambda done, total: None, min_chars=60)
    assert len(path.read_text("utf-8").splitlines()) == 2  # written as they came, not at the end

    with path.open("ab") as f:
        f.write('{"passage": "torn é'.encode()[:-1])  # a run killed mid-row, inside a two-byte character
    shown = io.StringIO()
    resumed = FakeGenerator()
    with ReplyCache(path, resumed) as cache:
        first = synthetic_queries(
            collected, 100, cache, progress=progress_printer(cache, 99, out=shown), min_chars=60
        )
    total = first.counts["passages"]
    assert resumed.calls == total - 2 and first.counts["cached"] == 2 and first.counts["written"] == total - 2
    assert "questions/min" in shown.getvalue() and "ETA" in shown.getvalue()
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    rows = [json.loads(line) for line in lines if not line.startswith('{"passage": "torn')]
    assert len(rows) == total and {r["generator"] for r in rows} == {"fake:gen"}

    # cleaned: markup and lead stripped, the text after the "?" gone, the refusal dropped and counted
    assert all(
        q.text.startswith("Which part of the text mentions ") and q.text.endswith("?") for q in first.queries
    )
    refused = sum(
        "Archives" in collected.pool[i].text
        for i in range(len(collected.pool))
        if collected.pool[i].section.startswith("library/")
    )
    assert first.counts["rejected"].get("not a question") == refused > 0
    assert first.counts["questions"] + sum(first.counts["rejected"].values()) == total
    for q in first.queries:
        assert q.source == "synthetic" and q.id == f"synthetic:{collected.pool[q.positives[0]].id}"

    again = FakeGenerator()
    with ReplyCache(path, again) as cache:
        second = synthetic_queries(collected, 100, cache, progress=lambda done, total: None, min_chars=60)
    assert again.calls == 0 and second.queries == first.queries  # all reused
    other = FakeGenerator(name="fake:other-model")
    with ReplyCache(path, other) as cache:
        synthetic_queries(collected, 100, cache, progress=lambda done, total: None, min_chars=60)
    assert other.calls == total  # another generator's replies are not this one's

    with ReplyCache(path, again), pytest.raises(CacheInUse, match="another run"):
        ReplyCache(path, again).__enter__()  # one writer per file


@pytest.mark.unit
def test_synthetic_queries_get_mined_negatives_and_never_a_held_out_passage(
    sources: Path, tmp_path: Path
) -> None:
    from tuning.synthetic import ReplyCache, synthetic_queries
    from tuning.train_reranker import split_held_out

    collected, groups = _groups(sources)
    with ReplyCache(tmp_path / "q.jsonl", FakeGenerator()) as cache:
        synthetic = synthetic_queries(collected, 100, cache, progress=lambda done, total: None, min_chars=60)
    mined = rd.mine(
        collected, synthetic.queries, rd.bm25_hits(collected.pool), _backwards(collected), negatives=2, skip=0
    )
    assert mined and {g.source for g in mined} == {"synthetic"}
    for g in mined:
        section = g.positive_id.rsplit("/", 1)[0]
        assert len(g.negatives) == 2 and all(i.rsplit("/", 1)[0] != section for i in g.negative_ids)

    everything = groups + mined
    held, train = split_held_out(everything, 2)
    assert held and {g.source for g in held} <= {"heading", "index"}
    assert held == split_held_out(groups, 2)[0]  # the same check with or without synthetic questions
    held_positives = {g.positive_id for g in held}
    assert not any(g.source == "synthetic" and g.positive_id in held_positives for g in train)
    assert len(train) == len(everything) - len(held) - sum(
        g.source == "synthetic" and g.positive_id in held_positives for g in everything
    )


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_with_synthetic_questions_records_them_in_training_json_and_the_card(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    pytest.importorskip("llama_cpp", reason="the packaged SmolLM2 runs through llama.cpp here")
    from tests.conftest import MODEL_CACHE, SMOLLM
    from tuning.train_reranker import main

    for name, value in {
        "GENERATOR_MODEL": SMOLLM,
        "MODEL_CACHE": str(MODEL_CACHE),
        "DATA_DIR": str(tmp_path / "data"),
        "LLAMACPP_THREADS": "1",
    }.items():
        monkeypatch.setenv(f"ASKDOCS_{name}", value)
    import shutil

    tree = shutil.copytree(sources, tmp_path / "_sources")  # plus passages long enough to be sources
    (tree / "library" / "json.rst.txt").write_text(JSON_PAGE, "utf-8")
    out, cache = tmp_path / "ce", tmp_path / "cache"
    assert (
        main(
            [
                "--out",
                str(out),
                "--sources",
                str(tree),
                "--cache",
                str(cache),
                "--synthetic",
                "5",
                "--generator-backend",
                "llamacpp",
                "--max-steps",
                "1",
                "--max-length",
                "32",
                "--groups-per-step",
                "2",
                "--negatives",
                "2",
                "--held-out",
                "1",
            ]
        )
        == 0
    )
    synthetic = json.loads((out / "training.json").read_text("utf-8"))["data"]["synthetic"]
    assert synthetic["requested"] == 5 and synthetic["passages"] == 3  # the three long json passages
    assert synthetic["generator"] == {
        "name": f"llamacpp:{SMOLLM}",
        "backend": "llamacpp",
        "model": SMOLLM,
        "model_sha256": synthetic["generator"]["model_sha256"],
    }
    assert len(synthetic["generator"]["model_sha256"]) == 64
    assert synthetic["questions"] + sum(synthetic["rejected"].values()) == synthetic["passages"]
    assert (
        synthetic["written"]
        == synthetic["passages"]
        == len((cache / "synthetic-questions.jsonl").read_text("utf-8").splitlines())
    )
    card = (out / "README.md").read_text("utf-8")
    assert f"{SMOLLM} through llamacpp" in card and "never a FAQ passage" in card
    smoke = json.loads((out / "training.json").read_text("utf-8"))["smoke_ndcg_at_10"]
    assert set(smoke) == {"retrieval", "fused", "replacing"} and all(0 <= v <= 1 for v in smoke.values())
    assert smoke["retrieval"] > 0.8  # the app's hybrid on its own sample documents (0.938 in the docs)
    assert (
        f"retrieval alone {smoke['retrieval']:.4f}; fused with this model (rrf) {smoke['fused']:.4f}" in card
    )
