"""Measuring a reranker on held-out questions, and the rule that adopts an adapted one.

Split from ``tuning.adapt`` (which runs the steps) so the rule can be read, tested and quoted on its own:
an adapted model is adopted only if its nDCG@10 beats the better of the retrieval order and the base
reranker on at least ``min_held_out`` held-out questions, by a gain whose paired bootstrap lower bound
(one-sided 95 %) is above zero and with more questions ranked better than worse by a one-sided sign
test at 5 %.

Design choices:
- A candidate with the source passage's text (a duplicate chunk) is neither a negative nor a miss: it
  counts as the source in the metrics.
- Candidates are reordered as a search reorders them (``reorder``: the head through the reranker and
  ``ASKDOCS_RERANK_FUSION``, the tail behind), so "before" and "after" measure what a user would see.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from askdocs.types import Chunk
from eval.metrics import mrr_at_k, ndcg_at_k
from retrieval.hybrid import HybridConfig
from retrieval.rerankers import Reranker, rerank_order
from tuning.questions import norm as _norm


@dataclass(frozen=True)
class Scores:
    mrr_at_10: float
    ndcg_at_10: float


@dataclass(frozen=True)
class Case:
    """One synthetic question, its source chunk and its retrieval candidates (retrieval order)."""

    question: str
    source: Chunk
    candidates: tuple[Chunk, ...]


def case_scores(cases: Sequence[Case], order: Callable[[Case], Sequence[Chunk]]) -> list[Scores]:
    """MRR@10 and nDCG@10 of each case's source chunk in ``order(case)``, case by case."""
    out = []
    for case in cases:
        source = _norm(case.source.text)
        ranked = list(dict.fromkeys("source" if _norm(c.text) == source else c.chunk_id for c in order(case)))
        out.append(Scores(mrr_at_k(ranked, {"source": 1}, 10), ndcg_at_k(ranked, {"source": 1}, 10)))
    return out


def mean_scores(per_case: Sequence[Scores]) -> Scores:
    n = max(1, len(per_case))
    return Scores(
        round(sum(s.mrr_at_10 for s in per_case) / n, 4), round(sum(s.ndcg_at_10 for s in per_case) / n, 4)
    )


def reorder(
    reranker: Reranker, config: HybridConfig, question: str, candidates: Sequence[Chunk]
) -> list[Chunk]:
    """The order a search shows with ``reranker``: the head reordered as the app does, the tail behind."""
    depth = config.rerank_candidates
    head, tail = list(candidates[:depth]), list(candidates[depth:])
    marks = reranker.score(question, [c.text for c in head])
    return [head[i] for i, _ in rerank_order(marks, config.rerank_fusion, config.rrf_k)] + tail


def reranked(reranker: Reranker, config: HybridConfig) -> Callable[[Case], list[Chunk]]:
    """``reorder`` for a case's question and candidates."""
    return lambda case: reorder(reranker, config, case.question, case.candidates)


def gain_lower_bound(gains: Sequence[float], seed: int = 0, resamples: int = 2000) -> float:
    """A one-sided 95 % lower bound of the mean gain: the 5th percentile of bootstrap resamples' means."""
    rng = np.random.default_rng(seed)
    values = np.asarray(gains, dtype=np.float64)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    return float(np.percentile(means, 5))


def sign_test(wins: int, losses: int) -> float:
    """One-sided p-value of ``wins`` or more among ``wins + losses`` fair coin flips (ties left out)."""
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n if n else 1.0


def adopt_if_better(
    after: Sequence[Scores], before: Mapping[str, Sequence[Scores] | None], min_held_out: int
) -> tuple[bool, str]:
    """Adopt only on enough held-out questions, when nDCG@10 beats the best baseline reliably.

    Reliably: question by question against the best baseline, the mean gain has a bootstrap lower bound
    above zero *and* the questions it ranks better outnumber those it ranks worse by a one-sided sign
    test at 5 % (the bootstrap alone is lenient when most questions tie, as they do with one relevant
    passage each: 3 wins and 17 ties pass it). A mean that wins by a few questions is not enough; on
    the Zsh manual a model adopted for +0.015 on 50 held-out questions lost 0.11 on the FAQ's real ones
    (docs/evaluation.md).
    """
    baselines = [(name, cases) for name, cases in before.items() if cases is not None]
    name, best = max(baselines, key=lambda pair: mean_scores(pair[1]).ndcg_at_10)
    ours, theirs = mean_scores(after).ndcg_at_10, mean_scores(best).ndcg_at_10
    versus = f"nDCG@10 {ours:.4f} against {name.replace('_', ' ')} {theirs:.4f}"
    if len(after) < min_held_out:
        return False, f"{versus}, on only {len(after)} held-out questions (at least {min_held_out} needed)"
    if ours <= theirs:
        return False, f"{versus}: not better"
    gains = [a.ndcg_at_10 - b.ndcg_at_10 for a, b in zip(after, best)]
    low = gain_lower_bound(gains)
    wins, losses = sum(g > 0 for g in gains), sum(g < 0 for g in gains)
    p = sign_test(wins, losses)
    evidence = (
        f"95 % lower bound of the gain {low:+.4f}; {wins} questions ranked better, {losses} worse, "
        f"p = {p:.3f}"
    )
    if low > 0 and p < 0.05:
        return True, f"{versus}: better ({evidence})"
    return False, f"{versus}: not reliably better ({evidence})"
