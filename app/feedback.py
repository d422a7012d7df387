"""Thumbs up/down on answers, kept in one append-only JSON Lines file.

Design choices:
- Append-only JSONL: one ``write`` per record under an exclusive ``fcntl.flock`` and an ``fsync``,
  so concurrent sessions (threads) and processes never interleave lines, and a record that was
  acknowledged survives a crash. Nothing is ever rewritten, so a crash cannot lose old feedback.
- A user changing their mind appends a new record; readers keep the last record per ``answer_id``.
  The full history stays in the file for anyone who wants to study it.
- Readers skip lines that do not parse (a torn write after a power cut, a hand edit) instead of
  failing: feedback is advisory, losing one line must not break the page that shows it.
- Reading scans the whole file. Feedback grows by a few lines per answer a human rates, so this
  stays small for a self-hosted app; a database is the answer if it ever does not.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, get_args

log = logging.getLogger(__name__)

Rating = Literal["up", "down"]
RATINGS: tuple[str, ...] = get_args(Rating)


@dataclass(frozen=True)
class FeedbackRecord:
    """One rating of one answer; ``created_at`` is a Unix timestamp."""

    answer_id: str
    question: str
    answer: str
    rating: Rating
    comment: str = ""
    user: str | None = None
    created_at: float = 0.0

    @classmethod
    def from_json(cls, line: str) -> FeedbackRecord:
        """Parse one stored line; raises ValueError (or a subclass) when it is not a valid record."""
        raw = json.loads(line)
        if not isinstance(raw, dict) or raw.get("rating") not in RATINGS:
            raise ValueError("not a feedback record")
        user = raw.get("user")
        return cls(
            answer_id=_text(raw, "answer_id"),
            question=_text(raw, "question"),
            answer=_text(raw, "answer"),
            rating=raw["rating"],
            comment=_text(raw, "comment", ""),
            user=None if user is None else str(user),
            created_at=float(raw.get("created_at", 0.0)),
        )


def _text(raw: dict, key: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key} is not text")
    return value


class FeedbackStore:
    """Feedback in ``path`` (created on first use, with its folder).

    Example:
        >>> store = FeedbackStore(tmp_path / "feedback.jsonl")  # doctest: +SKIP
        >>> store.add("a1", "What is scrypt?", "A KDF [1].", "up").rating  # doctest: +SKIP
        'up'
    """

    def __init__(self, path: Path, scrub: Callable[[str], str] | None = None) -> None:
        self.path = Path(path)
        self.scrub = scrub  # e.g. PII redaction (ASKDOCS_REDACT_PII), applied before anything is written

    def add(
        self,
        answer_id: str,
        question: str,
        answer: str,
        rating: Rating,
        comment: str = "",
        user: str | None = None,
    ) -> FeedbackRecord:
        """Store a rating; a later one for the same ``answer_id`` replaces it for readers."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
        if not answer_id:
            raise ValueError("answer_id is empty")
        if self.scrub is not None:
            question, answer, comment = self.scrub(question), self.scrub(answer), self.scrub(comment)
        record = FeedbackRecord(answer_id, question, answer, rating, comment.strip(), user, time.time())
        line = (json.dumps(asdict(record), ensure_ascii=False) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)  # may hold user text: private
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # A torn last line (crash mid-write) would swallow our record too: start on a fresh line.
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        return record

    def _current(self) -> list[FeedbackRecord]:
        """The last record per answer, oldest first."""
        try:
            with self.path.open("rb") as file:
                fcntl.flock(file.fileno(), fcntl.LOCK_SH)  # never read a line while it is half written
                data = file.read()
        except FileNotFoundError:
            return []
        latest: dict[str, FeedbackRecord] = {}
        for number, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                record = FeedbackRecord.from_json(raw.decode("utf-8"))
            except (ValueError, TypeError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                log.warning("skipping unreadable line %d of %s", number, self.path)
                continue
            latest.pop(record.answer_id, None)  # re-insert so the dict stays in order of last rating
            latest[record.answer_id] = record
        return list(latest.values())

    def latest(self, n: int = 20) -> list[FeedbackRecord]:
        """The ``n`` most recent ratings, newest first, one per answer."""
        if n <= 0:
            return []
        return self._current()[::-1][:n]

    def counts(self) -> dict[str, int]:
        """How many answers are currently rated up and down: ``{"up": u, "down": d}``."""
        totals = dict.fromkeys(RATINGS, 0)
        for record in self._current():
            totals[record.rating] += 1
        return totals
