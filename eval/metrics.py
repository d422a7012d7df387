"""Retrieval metrics: nDCG@k, Recall@k, MRR@k, Precision@k, and latency percentiles.

The numbers match trec_eval (through pytrec_eval, which BEIR reports) on the
same input, to 1e-9; ``tests/eval/test_metrics.py`` checks it. The choices:

- **nDCG gain is the grade itself**, not ``2**grade - 1``: trec_eval's
  ``ndcg_cut`` uses the qrels value as the gain ("For now, if you want
  different gains, change the qrels file"). The discount is ``log2(rank + 1)``
  with 1-based ranks, and the ideal ranking is every judged document of the
  query sorted by grade, cut at k, so relevant documents the run never
  retrieved still count in the denominator.
- **Relevant means grade > 0**, like trec_eval's default relevance level 1;
  zero and negative grades add no gain.
- **A run is ranked lists.** A list of ids is taken in the order given (that is
  what a user sees). ``(id, score)`` pairs, or an ``{id: score}`` mapping as
  BEIR and pytrec_eval take, are ranked the way trec_eval ranks them: score
  descending, ties broken by id descending (it ``strcmp``s the docnos), so the
  same scores give the same numbers here and in BEIR. A repeated id counts once,
  at its best rank, so recall never passes 1.
- **Which queries count.** The mean is over every query of the qrels that has
  at least one relevant document (without one, nDCG and recall are 0/0). Such a
  query missing from the run scores 0; a run query the qrels don't judge is
  ignored. pytrec_eval instead skips qrels queries missing from the run, and
  BEIR averages over the queries that it returned results for, so a retriever
  that silently drops queries looks better there than here.
- **Precision@k divides by k** even when fewer than k documents came back
  (trec_eval's ``P_k``); MRR@k is the reciprocal rank of the first relevant
  document within the top k, 0 if none (``recip_rank`` on the run cut at k).
- **Latency percentiles** use numpy's default "linear" method (type 7 of
  Hyndman & Fan, the one spreadsheets use), stated so a report can say so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

Results = Sequence[str] | Sequence[tuple[str, float]] | Mapping[str, float]
Run = Mapping[str, Results]
Qrels = Mapping[str, Mapping[str, int]]

METRICS = ("ndcg", "recall", "mrr", "precision")


def ranking(results: Results) -> list[str]:
    """The ids of one query's results, best first, each once (see the module notes for ties)."""
    if isinstance(results, str):
        raise TypeError("results must be a sequence of ids, not one string")
    if isinstance(results, Mapping):
        results = list(results.items())
    if not results:
        return []
    if all(isinstance(item, str) for item in results):
        ordered: Iterable[str] = results  # type: ignore[assignment]
    elif all(isinstance(item, (tuple, list)) and len(item) == 2 for item in results):
        pairs = [(str(doc_id), float(score)) for doc_id, score in results]  # type: ignore[str-unpack]
        if any(math.isnan(score) for _, score in pairs):
            raise ValueError("a result has a NaN score")
        ordered = (doc_id for doc_id, _ in sorted(pairs, key=lambda p: (p[1], p[0]), reverse=True))
    else:
        raise TypeError("results must be all ids or all (id, score) pairs")
    return list(dict.fromkeys(ordered))


def _relevant(judgments: Mapping[str, int]) -> int:
    return sum(1 for grade in judgments.values() if grade > 0)


def ndcg_at_k(ranked: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """nDCG@k of one ranked id list; 0 when the query has no relevant document."""
    _check_k(k)
    gains = (judgments.get(doc_id, 0) for doc_id in ranked[:k])
    dcg = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(gains, 1) if grade > 0)
    ideal = sorted((g for g in judgments.values() if g > 0), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top k over all relevant documents of the query."""
    _check_k(k)
    total = _relevant(judgments)
    return _hits(ranked, judgments, k) / total if total else 0.0


def precision_at_k(ranked: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top k over k."""
    _check_k(k)
    return _hits(ranked, judgments, k) / k


def mrr_at_k(ranked: Sequence[str], judgments: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document within the top k, else 0."""
    _check_k(k)
    first = next((rank for rank, doc_id in enumerate(ranked[:k], 1) if judgments.get(doc_id, 0) > 0), None)
    return 1.0 / first if first else 0.0


_PER_QUERY = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k, "precision": precision_at_k}


def per_query(run: Run, qrels: Qrels, metric: str, k: int) -> dict[str, float]:
    """``metric``@k for every query that has a relevant document, in qrels order."""
    try:
        measure = _PER_QUERY[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}") from None
    return {
        query_id: measure(ranking(run.get(query_id, ())), judgments, k)
        for query_id, judgments in qrels.items()
        if _relevant(judgments)
    }


def mean(run: Run, qrels: Qrels, metric: str, k: int) -> float:
    """The mean of :func:`per_query`; 0 when no query has a relevant document."""
    scores = per_query(run, qrels, metric, k)
    return math.fsum(scores.values()) / len(scores) if scores else 0.0


def evaluate(run: Run, qrels: Qrels, ks: Sequence[int] = (1, 3, 10, 100)) -> dict[str, float]:
    """Every metric at every k, keyed ``"ndcg@10"``, ``"recall@100"``, ``"mrr@10"``, ``"precision@1"``...

    Example:
        >>> evaluate({"q1": ["d2", "d1"]}, {"q1": {"d1": 1}}, ks=(1, 2))["mrr@2"]
        0.5
    """
    ranked = {query_id: ranking(results) for query_id, results in run.items()}
    return {f"{metric}@{k}": mean(ranked, qrels, metric, k) for metric in METRICS for k in ks}


def recall_curve(run: Run, qrels: Qrels, ks: Iterable[int]) -> dict[int, float]:
    """Mean Recall@k for each k, in increasing k: how deep a reranker must look to see the answers."""
    ranked = {query_id: ranking(results) for query_id, results in run.items()}
    return {k: mean(ranked, qrels, "recall", k) for k in sorted(set(ks))}


def latency_summary(latencies_ms: Iterable[float]) -> dict[str, float]:
    """count, mean, p50, p95, p99 and max of latencies in milliseconds (numpy "linear" percentiles)."""
    values = np.asarray(list(latencies_ms), dtype=float)
    if values.size == 0:
        raise ValueError("no latencies to summarise")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("latencies must be finite and non-negative")
    p50, p95, p99 = np.percentile(values, [50, 95, 99], method="linear")
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(values.max()),
    }


def _hits(ranked: Sequence[str], judgments: Mapping[str, int], k: int) -> int:
    return sum(1 for doc_id in ranked[:k] if judgments.get(doc_id, 0) > 0)


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError("k must be at least 1")
