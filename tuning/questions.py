"""Questions a local generator writes about passages, cleaned and counted.

Shared by ``tuning.adapt`` (a collection's chunks) and ``tuning.synthetic`` (the reranker's
training pool), so both write and judge questions the same way.

Design choices:
- One prompt, greedy decoding (temperature 0), at most ``MAX_TOKENS`` new tokens and the first
  ``MAX_PASSAGE_CHARS`` characters of a passage: a question is short, and the same passage and model
  give the same question again. ``PROMPT_ID`` fingerprints all three, so a cache of replies can tell
  when a reply was asked for differently.
- A reply is dropped (and counted) when it is empty, is not a question, copies a passage phrase whole
  (an "echo" teaches matching words, not meaning), shares no word with its passage beyond generic
  ones ("What is the answer to this question?") or repeats an earlier question.
- ``write_questions`` takes an ``Ask`` (passage text -> raw reply) rather than a generator, so a caller
  that caches replies passes its own and the cleaning stays in one place.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from retrieval.bm25 import tokenize

if TYPE_CHECKING:
    from generation.generators import Generator

PROMPT = (
    "Here is a passage from a document:\n\n{passage}\n\nWrite one question that a reader could ask "
    "and that this passage answers. Reply with the question only."
)
MAX_TOKENS = 48
MAX_PASSAGE_CHARS = 1500
PROMPT_ID = hashlib.sha256(f"{PROMPT}\0{MAX_TOKENS}\0{MAX_PASSAGE_CHARS}".encode()).hexdigest()[:12]
_GENERIC = set(tokenize("purpose question answer passage document text mean main describe"))
_LEAD = re.compile(r"^(?:question\s*\d*\s*[:.)-]|q\s*[:.)-]|\d+\s*[.)]|[-*•])\s*", re.IGNORECASE)

Ask = Callable[[str], str]  # passage text -> the generator's raw reply


def norm(text: str) -> str:
    return " ".join(text.casefold().split())


def clean_question(raw: str, passage: str) -> tuple[str | None, str]:
    """(the question, "kept") or (None, why it was dropped) for one generator reply."""
    line = next((line.strip() for line in raw.splitlines() if line.strip()), "")
    for _ in range(2):  # '**Q: "..."**': markup, then a lead, then the quotes inside it
        line = _LEAD.sub("", line.strip().strip("\"'“”*`").strip())
    if not line:
        return None, "empty"
    if "?" not in line or not 3 <= len(line[: line.index("?")].split()) <= 40:
        return None, "not a question"
    question = line[: line.index("?") + 1]
    if norm(question.rstrip("?")) in norm(passage):
        return None, "echo"
    if not (set(tokenize(question)) - _GENERIC) & set(tokenize(passage)):  # "What is the answer?"
        return None, "off topic"
    return question, "kept"


def asker(generator: Generator) -> Ask:
    """The generator's raw reply to the question-writing prompt for one passage."""

    def ask(passage: str) -> str:
        messages = [{"role": "user", "content": PROMPT.format(passage=passage[:MAX_PASSAGE_CHARS])}]
        return "".join(generator.stream(messages, max_tokens=MAX_TOKENS))

    return ask


def write_questions(
    ask: Ask, passages: Sequence[str], progress: Callable[[int, int], None] | None = None
) -> tuple[list[tuple[str, int]], Counter[str]]:
    """(question, position in ``passages``) for each passage that got a usable question; drops by reason.

    ``progress(done, total)`` is called after every passage.
    """
    kept: list[tuple[str, int]] = []
    reasons: Counter[str] = Counter()
    seen: set[str] = set()
    for n, passage in enumerate(passages):
        question, reason = clean_question(ask(passage), passage)
        if question is not None and norm(question) in seen:
            question, reason = None, "duplicate"
        if question is None:
            reasons[reason] += 1
        else:
            seen.add(norm(question))
            kept.append((question, n))
        if progress is not None:
            progress(n + 1, len(passages))
    return kept, reasons
