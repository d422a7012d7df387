"""Weighted reciprocal-rank fusion.

RRF (Cormack, Clarke & Buettcher, SIGIR 2009) scores a document by
``sum_i w_i / (k + rank_i)`` over the rankings it appears in, with 1-based
ranks. It needs no score calibration between BM25 and cosine similarity,
which live on unrelated scales. ``k`` (60 in the paper) damps the advantage of
the very top ranks. The weights exist because equal-weight fusion often loses
to dense search alone on question-to-answer data (docs/decisions.md); they are
settings, chosen by the evaluation suite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def weighted_rrf(
    rankings: Mapping[str, Sequence[str]], weights: Mapping[str, float], k: int = 60
) -> list[tuple[str, float]]:
    """Fuse ranked id lists into one, best first.

    Args:
        rankings: ranker name -> ids, best first.
        weights: ranker name -> weight; a ranker with no weight counts 1.0.
        k: the RRF constant.

    Returns:
        ``(id, fused score)`` pairs sorted by score, ties broken by first appearance.

    Example:
        >>> weighted_rrf({"bm25": ["a", "b"], "dense": ["b", "c"]}, {"bm25": 1.0, "dense": 1.0}, k=60)[0][0]
        'b'
    """
    if k < 1:
        raise ValueError("the RRF constant k must be at least 1")
    scores: dict[str, float] = {}
    for name, ids in rankings.items():
        weight = weights.get(name, 1.0)
        if weight < 0:
            raise ValueError(f"weight of {name!r} is negative")
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))
