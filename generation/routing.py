"""Routing by need: simple questions go to the fast generator, hard ones to the strong one.

A rule, not a model: it costs microseconds, needs no training data, and its reason can be shown
with the answer ("comparison", "several questions"). A question is *hard* when it

- compares or weighs things ("compare", "difference between", "versus", "pros and cons", ...),
- asks several things at once (two question marks, or "..., and why/how/what ..."),
- asks for an explanation or a summary rather than a fact ("explain", "describe", "step by step"),
- or is long (``long_words`` words or more: long questions tend to carry several conditions).

Everything else, the short factual question that most document Q&A is made of, is *simple*.
The strong generator is the application's main one (``ASKDOCS_GENERATOR_*``); the fast one is
``ASKDOCS_FAST_GENERATOR_*``, and without it there is no routing at all. The semantic cache and the
"not in the documents" abstention come first, so neither tier is asked when they answer. What the
rule saves and what it costs in answer quality is measured by ``python -m bench.routing``
(docs/benchmarks.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Tier = Literal["fast", "strong"]

_COMPARISON = re.compile(
    r"\b(compare[ds]?|comparing|differences?\s+between|differ(s|ent)?\s+(from|between)|versus|vs\.?"
    r"|better\s+than|worse\s+than|pros\s+and\s+cons|advantages?|disadvantages?|trade-?offs?|instead\s+of"
    r"|rather\s+than)\b",
    re.I,
)
# A second question joined by "and"/"or" after a comma or inside the sentence: "X, and why is Y?"
_SECOND_QUESTION = re.compile(
    r"[,;]?\s+(and|or|also)\s+(what|why|how|which|when|where|who|whom|whose|is|are|does|do|can)\b", re.I
)
_EXPLANATION = re.compile(
    r"^\s*(explain|describe|summari[sz]e|walk\s+me\s+through|outline|discuss|analy[sz]e|elaborate)\b"
    r"|\bstep[\s-]+by[\s-]+step\b|\bin\s+detail\b",
    re.I,
)


@dataclass(frozen=True)
class RouteDecision:
    tier: Tier
    reason: str  # a few words fit to show the user


def classify(question: str, long_words: int = 30) -> RouteDecision:
    """Which tier should answer ``question``, and why."""
    text = " ".join(question.split())
    if _COMPARISON.search(text):
        return RouteDecision("strong", "comparison")
    if text.count("?") >= 2 or _SECOND_QUESTION.search(text):
        return RouteDecision("strong", "several questions")
    if _EXPLANATION.search(text):
        return RouteDecision("strong", "asks for an explanation")
    if len(text.split()) >= long_words:
        return RouteDecision("strong", "long question")
    return RouteDecision("fast", "short factual question")


def tier_label(tier: str, reason: str) -> str:
    """How the UI and the CLI show a routed answer's tier: "fast model (short factual question)"."""
    return f"{tier} model ({reason})" if tier else ""
