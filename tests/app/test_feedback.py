"""The feedback store on real files: appends, supersession, corrupt lines, concurrent writers."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import pytest

from app.feedback import FeedbackRecord, FeedbackStore

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "nested" / "feedback.jsonl")  # the folder does not exist yet


def test_add_appends_one_json_line_with_a_timestamp(store):
    before = time.time()
    record = store.add("a1", "What is BM25?", "A ranking function [1].", "up", " clear ", user="ada")
    assert isinstance(record, FeedbackRecord)
    assert record.comment == "clear" and record.user == "ada" and before <= record.created_at <= time.time()
    [line] = store.path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "answer_id": "a1",
        "question": "What is BM25?",
        "answer": "A ranking function [1].",
        "rating": "up",
        "comment": "clear",
        "user": "ada",
        "created_at": record.created_at,
    }
    assert store.path.stat().st_mode & 0o077 == 0  # answers and comments are private to the app
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.rating = "down"  # type: ignore[misc]


def test_an_empty_store_reads_as_empty(store):
    assert store.latest(5) == [] and store.counts() == {"up": 0, "down": 0}
    assert not store.path.exists()


def test_latest_is_newest_first_and_counts_add_up(store):
    for i, rating in enumerate(["up", "down", "up", "up"]):
        store.add(f"a{i}", f"q{i}", f"answer {i}", rating)
    assert [r.answer_id for r in store.latest(3)] == ["a3", "a2", "a1"]
    assert [r.answer_id for r in store.latest(10)] == ["a3", "a2", "a1", "a0"]
    assert store.latest(0) == []
    assert store.counts() == {"up": 3, "down": 1}


def test_a_second_rating_of_one_answer_supersedes_the_first(store):
    store.add("a1", "q1", "answer 1", "up")
    store.add("a2", "q2", "answer 2", "up")
    store.add("a1", "q1", "answer 1", "down", "on reflection, wrong page")
    latest = store.latest(10)
    assert [(r.answer_id, r.rating) for r in latest] == [("a1", "down"), ("a2", "up")]
    assert latest[0].comment == "on reflection, wrong page"
    assert store.counts() == {"up": 1, "down": 1}
    assert len(store.path.read_text().splitlines()) == 3  # the history is kept in the file


def test_corrupt_lines_are_skipped(store):
    store.add("a1", "q1", "answer 1", "up")
    with store.path.open("ab") as file:
        file.write(b"{not json\n")
        file.write(b'{"answer_id": "x", "rating": "sideways", "question": "", "answer": ""}\n')
        file.write(b"[1, 2, 3]\n\n")
        file.write(b'{"answer_id": 7, "rating": "up", "question": "", "answer": ""}\n')
        file.write(b"\xff\xfe not utf-8\n")
    store.add("a2", "q2", "answer 2", "down")
    assert [r.answer_id for r in store.latest(10)] == ["a2", "a1"]
    assert store.counts() == {"up": 1, "down": 1}


def test_a_torn_last_line_does_not_swallow_the_next_record(store):
    store.add("a1", "q1", "answer 1", "up")
    with store.path.open("ab") as file:
        file.write(b'{"answer_id": "half')  # a crash in the middle of a write
    store.add("a2", "q2", "answer 2", "down")
    assert [r.answer_id for r in store.latest(10)] == ["a2", "a1"]


def test_bad_arguments_are_refused_before_writing(store):
    with pytest.raises(ValueError, match="rating"):
        store.add("a1", "q", "a", "meh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="answer_id"):
        store.add("", "q", "a", "up")
    assert not store.path.exists()


def test_two_threads_adding_at_once_lose_nothing(store):
    per_thread = 200
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                # long text makes a torn or interleaved write show up as a corrupt line
                store.add(f"{tag}{i}", "q" * 500, "a" * 5000, "up" if tag == "u" else "down")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in ("u", "d")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    lines = store.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 * per_thread and all(json.loads(line)["answer"] == "a" * 5000 for line in lines)
    assert store.counts() == {"up": per_thread, "down": per_thread}
    assert len(store.latest(1000)) == 2 * per_thread
