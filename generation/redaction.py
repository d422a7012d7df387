"""Optional filters on the text askdocs shows and stores: PII redaction and an operator's content filter.

- ``ASKDOCS_REDACT_PII=true`` replaces e-mail addresses, phone numbers and payment card numbers with
  ``[email]``, ``[phone]`` and ``[card number]`` in answers (streamed and final, so also in the cache)
  and in what is stored about questions (feedback, monitoring records). Off by default: documents are
  the user's own, and a support handbook's contact address is often the answer.
- ``ASKDOCS_CONTENT_FILTER=package.module:function`` names a ``str -> str`` function that every answer
  passes through after the redaction: the hook for a site's own policy (a word list, a classifier).
  It may return the text changed, or raise; a failing filter fails the answer rather than letting the
  text through unfiltered.

The patterns aim at few false positives on technical documents: a phone number needs a leading ``+``
or ``(``, or separators between digit groups that are spaces or dashes (never dots, so IP addresses,
versions and dotted dates stay), 8–15 digits, and no date shape; a card number is 13–19 digits that
pass the Luhn check.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from askdocs.settings import Settings

TextFilter = Callable[[str], str]

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+|\(\+?)?\d[\d ()-]{6,}\d(?![\w])")
_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}-\d{1,2}-\d{2,4}$")
# Where a streamed answer may be cut and filtered: after a sentence or a line. None of the patterns
# above can contain ". " or a newline, so no match is ever split across two flushed parts.
_SENTENCE_END = re.compile(r"[.!?;:]\s|\n")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[card number]" if _luhn(digits) else match.group()


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    grouped = text.startswith(("+", "(")) or re.search(r"\d[ -]\d", text) is not None
    if not 8 <= len(digits) <= 15 or not grouped or _DATE.match(text.strip()):
        return text
    return "[phone]"


def redact_pii(text: str) -> str:
    """``text`` with e-mail addresses, payment card numbers and phone numbers replaced.

    Example:
        >>> redact_pii("Mail ann@example.org or call +44 20 7946 0958; card 4111 1111 1111 1111.")
        'Mail [email] or call [phone]; card [card number].'
        >>> redact_pii("Python 3.11.7 at 192.168.0.1 since 2026-11-22")
        'Python 3.11.7 at 192.168.0.1 since 2026-11-22'
    """
    text = _EMAIL.sub("[email]", text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


def load_content_filter(spec: str) -> TextFilter:
    """The function ``package.module:function`` names; a clear error when it does not exist."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"ASKDOCS_CONTENT_FILTER must look like package.module:function, not {spec!r}")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"ASKDOCS_CONTENT_FILTER={spec!r} cannot be loaded: {error}") from None
    if not callable(found):
        raise ValueError(f"ASKDOCS_CONTENT_FILTER={spec!r} is not a function")
    return found


def answer_filters(settings: Settings) -> tuple[TextFilter, ...]:
    """The filters every answer passes through, in order, as the settings ask."""
    filters: list[TextFilter] = [redact_pii] if settings.redact_pii else []
    if settings.content_filter:
        filters.append(load_content_filter(settings.content_filter))
    return tuple(filters)


def stored_text_scrubber(settings: Settings) -> TextFilter | None:
    """What questions, answers and comments go through before they are written to disk."""
    return redact_pii if settings.redact_pii else None


def apply_filters(text: str, filters: Iterable[TextFilter]) -> str:
    for text_filter in filters:
        text = text_filter(text)
    return text


def filtered_stream(pieces: Iterator[str], filters: Sequence[TextFilter]) -> Iterator[str]:
    """``pieces`` regrouped into whole sentences or lines, each passed through ``filters``.

    A filter must see a whole e-mail address or number before any of it is shown, so with filters on
    an answer streams by sentence instead of by token.
    """
    pending = ""
    for piece in pieces:
        pending += piece
        ends = [m.end() for m in _SENTENCE_END.finditer(pending)]
        if ends:
            ready, pending = pending[: ends[-1]], pending[ends[-1] :]
            yield apply_filters(ready, filters)
    if pending:
        yield apply_filters(pending, filters)
