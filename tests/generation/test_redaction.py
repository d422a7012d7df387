"""Optional PII redaction and the content filter hook: in answers (streamed and final) and in what is stored."""

from __future__ import annotations

import json

import pytest

from app.feedback import FeedbackStore
from app.monitoring import Recorder
from askdocs.types import Answer, Chunk, RetrievedChunk
from generation.pipeline import AnswerPipeline
from generation.redaction import answer_filters, filtered_stream, load_content_filter, redact_pii
from retrieval.hybrid import Retrieval
from tests.conftest import make_settings
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.unit

CONTACT = "Write to ann.lee@example.org or call +44 20 7946 0958 [1]. Card 4111 1111 1111 1111 is on file."


def shout(text: str) -> str:
    """A content filter for the hook test (loaded by name, as an operator's would be)."""
    return text.upper()


def refuse(text: str) -> str:
    raise RuntimeError("the site's classifier is down")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("mail ann.lee@example.org.", "mail [email]."),
        ("first+tag@mail.example.co.uk wrote", "[email] wrote"),
        ("call +44 20 7946 0958 now", "call [phone] now"),
        ("call (555) 123-4567", "call [phone]"),
        ("call 555-123-4567 or +1-202-555-0143", "call [phone] or [phone]"),
        ("card 4111 1111 1111 1111", "card [card number]"),
        ("card 5500-0000-0000-0004", "card [card number]"),
        ("card 4111111111111111", "card [card number]"),
    ],
)
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert redact_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Python 3.11.7 listens on 192.168.0.1:8000 since 2026-11-22",
        "zstd -19 --long=27 compresses 1,000,000 bytes in 12.5 s at level 22",
        "IPv6 2001:db8::1 and the range 10.0.0.0/8",
        "the ids 1234 5678 9012 3456 fail the Luhn check",  # 16 digits, not a card, too long for a phone
        "call me at noon on 12-11-2026",  # a date, not a phone number
        "see section 4.2 on page 17 of RFC 4291",
    ],
)
def test_technical_numbers_are_left_alone(text: str) -> None:
    assert redact_pii(text) == text


def test_a_stream_is_regrouped_so_no_piece_shows_part_of_an_address() -> None:
    pieces = ["Write to an", "n@exa", "mple.org. Or call +44 20 79", "46 0958 ", "today."]
    shown = list(filtered_stream(iter(pieces), (redact_pii,)))
    assert "".join(shown) == redact_pii("".join(pieces)) == "Write to [email]. Or call [phone] today."
    assert len(shown) == 2  # one piece per sentence: still streamed, never a part of an address
    assert not any("@" in s or "+44" in s or "0958" in s for s in shown)


class OneChunkRetriever:
    def retrieve(self, query, collection, k=None, doc_ids=None, principal=None) -> Retrieval:  # noqa: ANN001
        text = "Contact ann.lee@example.org or call +44 20 7946 0958 for access to the archive."
        hit = RetrievedChunk(Chunk("c0", "d0", "contacts.md", collection, "v", 0, text, 1, 1), 1.0)
        return Retrieval(query, (hit,), 0.9, {}, None)


def ask(reply: str, **settings: object) -> tuple[list[str], Answer]:
    pipeline = AnswerPipeline(
        OneChunkRetriever(), ScriptedGenerator(reply), make_settings("/tmp/unused", **settings)
    )
    events = list(pipeline.stream("How do I get access to the archive?"))
    return events[:-1], events[-1]


def test_with_redaction_on_no_streamed_piece_and_no_part_of_the_answer_holds_personal_data() -> None:
    pieces, answer = ask(CONTACT, redact_pii=True)
    for text in (*pieces, answer.text, *(c.snippet for c in answer.citations)):
        assert "ann.lee" not in text and "7946" not in text and "4111" not in text, text
    assert "[email]" in answer.text and "[phone]" in answer.text and "[card number]" in answer.text
    assert answer.citations and "[email]" in answer.citations[0].snippet


def test_redaction_is_off_by_default() -> None:
    pieces, answer = ask(CONTACT)
    assert "ann.lee@example.org" in answer.text and "ann.lee@example.org" in "".join(pieces)


def test_the_content_filter_hook_sees_every_answer() -> None:
    pieces, answer = ask("It is in the archive [1].", content_filter=f"{__name__}:shout")
    assert answer.text == "IT IS IN THE ARCHIVE [1]."
    assert "".join(pieces).strip() == "IT IS IN THE ARCHIVE [1]."


def test_a_failing_content_filter_fails_the_answer_instead_of_letting_it_through() -> None:
    with pytest.raises(RuntimeError, match="classifier is down"):
        ask("It is in the archive [1].", content_filter=f"{__name__}:refuse")


@pytest.mark.parametrize("spec", ["no_colon", "no.such.module:f", f"{__name__}:missing", ":f"])
def test_a_wrong_content_filter_setting_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ValueError, match="ASKDOCS_CONTENT_FILTER"):
        load_content_filter(spec)


def test_filters_follow_the_settings(tmp_path) -> None:
    assert answer_filters(make_settings(tmp_path)) == ()
    assert answer_filters(make_settings(tmp_path, redact_pii=True, content_filter=f"{__name__}:shout")) == (
        redact_pii,
        shout,
    )


def test_feedback_and_monitoring_store_no_personal_data_when_redaction_is_on(tmp_path) -> None:
    settings = make_settings(tmp_path, redact_pii=True, monitor_store_questions=True)
    feedback = FeedbackStore(tmp_path / "feedback.jsonl", scrub=redact_pii)
    feedback.add(
        "a1", "Is ann.lee@example.org right?", "Call +44 20 7946 0958.", "down", "my card 4111111111111111"
    )
    stored = json.loads((tmp_path / "feedback.jsonl").read_text())
    assert (stored["question"], stored["answer"], stored["comment"]) == (
        "Is [email] right?",
        "Call [phone].",
        "my card [card number]",
    )

    recorder = Recorder.from_settings(settings)
    recorder.record_error("ui", "default", "generator", question="mail ann.lee@example.org please")
    raw = settings.monitor_path.read_bytes() + b"".join(
        p.read_bytes() for p in settings.monitor_path.parent.glob("monitor.sqlite3*")
    )
    assert b"ann.lee" not in raw and b"[email]" in raw
