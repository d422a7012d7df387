"""Checking the model's citations against the sources it was actually given.

Small local models answer well but cite unreliably (docs/decisions.md), so the
model does not decide what is cited: every ``[n]`` is validated against the
numbered sources, invalid numbers are removed, and a sentence with no valid
citation is attributed to the source whose words it shares most, or listed
as unsupported when no source shares enough of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.bm25 import tokenize

# [1], [1, 2], [1][2], [Source 1], [source 2, 3]
CITATION_MARKER = re.compile(
    r"\[\s*(?:sources?\s*)?(\d+(?:\s*[,;]\s*(?:sources?\s*)?\d+)*)\s*\]", re.IGNORECASE
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n+")
# The model's ways of saying the sources lack the answer; narrow on purpose, so that "the list does not
# contain duplicates" is not mistaken for an abstention.
_ABSTAIN = re.compile(
    r"\bi (do not|don't|dont) know\b"
    r"|\b(documents|sources|context) (do not|don't|does not|doesn't) (contain|mention|say|provide)"
    r"|\bnot (mentioned|provided|stated|found) in the (provided )?(sources|documents|context)",
    re.IGNORECASE,
)
MIN_OVERLAP = 0.5  # share of a sentence's content words a source must contain to be credited with it


@dataclass(frozen=True)
class CheckedAnswer:
    text: str
    cited: tuple[int, ...]  # source numbers, in order of first citation
    unsupported: tuple[str, ...]
    removed_markers: int
    abstained: bool


def _numbers(marker_body: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", marker_body)]


def _overlap(sentence_terms: set[str], source_terms: set[str]) -> float:
    return len(sentence_terms & source_terms) / len(sentence_terms) if sentence_terms else 0.0


def check_citations(answer: str, sources: Sequence[str]) -> CheckedAnswer:
    """Validate and complete the citations of ``answer``; ``sources[n-1]`` is source ``[n]``.

    Example:
        >>> check_citations("Sorting is stable [1]. Bananas [7].", ["sorting is stable"]).text
        'Sorting is stable [1]. Bananas.'
    """
    count = len(sources)
    removed = 0

    def keep_valid(match: re.Match[str]) -> str:
        nonlocal removed
        numbers = _numbers(match.group(1))
        valid = list(dict.fromkeys(n for n in numbers if 1 <= n <= count))
        removed += len(numbers) - len(valid)
        return "".join(f"[{n}]" for n in valid)

    text = CITATION_MARKER.sub(keep_valid, answer.strip())
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)  # "word [9]." became "word ."
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    abstained = bool(_ABSTAIN.search(text))
    source_terms = [set(tokenize(s)) for s in sources]
    unsupported: list[str] = []
    pieces: list[str] = []
    for sentence in split_sentences(text):
        terms = set(tokenize(CITATION_MARKER.sub("", sentence)))
        if CITATION_MARKER.search(sentence) or abstained or len(terms) < 2 or not source_terms:
            if not CITATION_MARKER.search(sentence) and not abstained and len(terms) >= 2:
                unsupported.append(sentence)
            pieces.append(sentence)
            continue
        best = max(range(count), key=lambda i: _overlap(terms, source_terms[i]))
        if _overlap(terms, source_terms[best]) >= MIN_OVERLAP:
            pieces.append(_attach(sentence, best + 1))
        else:
            unsupported.append(sentence)
            pieces.append(sentence)
    text = _join(text, pieces)
    cited = tuple(dict.fromkeys(n for m in CITATION_MARKER.finditer(text) for n in _numbers(m.group(1))))
    return CheckedAnswer(text, cited, tuple(unsupported), removed, abstained)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _attach(sentence: str, number: int) -> str:
    """Put ``[n]`` before the sentence's final punctuation."""
    match = re.search(r"([.!?:]+)$", sentence)
    if match:
        return f"{sentence[: match.start()]} [{number}]{match.group(1)}"
    return f"{sentence} [{number}]"


def _join(original: str, sentences: list[str]) -> str:
    # Keep line structure (lists, paragraphs) when the model wrote some; otherwise one paragraph.
    return "\n".join(sentences) if "\n" in original else " ".join(sentences)
