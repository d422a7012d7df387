"""Offline answer metrics: correctness, citation validity and precision, groundedness, abstention.

All of them are lexical, so they run anywhere without a judge model, and all of them have
limits worth knowing (docs/evaluation.md repeats these):

- **correctness** is the share of the gold answer's words (lower-cased, Snowball-stemmed, articles
  dropped) that the answer contains. Long gold answers are hard to match word for word; a wrong
  answer that repeats the question's words can score; "not None" contains "None".
- **citation validity** is measured on the model's *raw* output, before the app removes invalid
  markers: the share of ``[n]`` that name a source the model was given. None when it cited nothing.
- **citation precision** is the share of the *shown* citations whose document and page are the
  gold ones. A second passage that also holds the answer counts as imprecise.
- **groundedness** is the share of an answer's sentences whose cited passages contain at least
  ``SUPPORT_OVERLAP`` of the sentence's content words; an uncited sentence is not grounded. It is
  reported twice: on the answer as shown (after the app's citation check, whose attribution uses a
  looser 0.5 overlap, so the two rules are related but not the same) and, as ``groundedness_raw``,
  on the model's raw output with only its own citations. Word overlap cannot see negation or
  paraphrase: "X is not stable" is "supported" by "X is stable", and a faithful paraphrase in
  other words is not.
- **abstention** is right when the app says it does not know exactly when the question is one of
  the unanswerable ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import Stemmer

from generation.citations import CITATION_MARKER, split_sentences
from retrieval.bm25 import tokenize

SUPPORT_OVERLAP = 0.6  # stricter than the app's attribution threshold (0.5), so the two are not one rule
_ARTICLES = frozenset({"a", "an", "the"})
_WORD = re.compile(r"\w+")
_stemmer = Stemmer.Stemmer("english")


def answer_words(text: str) -> set[str]:
    """Words for correctness: stemmed, articles dropped, but stop words kept ("None", "not" matter)."""
    words = [w for w in _WORD.findall(CITATION_MARKER.sub(" ", text).lower()) if w not in _ARTICLES]
    return set(_stemmer.stemWords(words))


def correctness(answer: str, gold: str) -> float:
    gold_words = answer_words(gold)
    if not gold_words:
        raise ValueError(f"the gold answer {gold!r} has no words")
    return len(gold_words & answer_words(answer)) / len(gold_words)


def cited_numbers(text: str) -> list[int]:
    return [int(n) for match in CITATION_MARKER.finditer(text) for n in re.findall(r"\d+", match.group(1))]


def citation_validity(raw: str, source_count: int) -> float | None:
    numbers = cited_numbers(raw)
    if not numbers:
        return None
    return sum(1 <= n <= source_count for n in numbers) / len(numbers)


def citation_precision(
    cited_pages: Sequence[tuple[str, int, int]], gold_source: str, gold_page: int
) -> float | None:
    """``cited_pages`` holds (source, first page, last page) per shown citation."""
    if not cited_pages:
        return None
    hits = sum(source == gold_source and first <= gold_page <= last for source, first, last in cited_pages)
    return hits / len(cited_pages)


def groundedness(raw: str, sources: Sequence[str]) -> float | None:
    """Share of sentences supported by the passages they cite; None for an answer with no sentences."""
    source_terms = [set(tokenize(s)) for s in sources]
    judged = supported = 0
    for sentence in split_sentences(raw):
        terms = set(tokenize(CITATION_MARKER.sub(" ", sentence)))
        if not terms:
            continue  # a bare marker or punctuation
        judged += 1
        cited = [n for n in cited_numbers(sentence) if 1 <= n <= len(sources)]
        covered = set().union(*(source_terms[n - 1] for n in cited)) if cited else set()
        supported += len(terms & covered) / len(terms) >= SUPPORT_OVERLAP
    return supported / judged if judged else None


def mean_of(values: Sequence[float | None]) -> float | None:
    """The mean of the values that exist; None when none does (shown as n/a, never as NaN)."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None
