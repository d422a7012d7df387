"""Our metrics against hand-computed values and against trec_eval (pytrec_eval), to 1e-9."""

import math
import random

import pytest
import pytrec_eval

from eval.metrics import (
    METRICS,
    evaluate,
    latency_summary,
    mean,
    mrr_at_k,
    ndcg_at_k,
    per_query,
    precision_at_k,
    ranking,
    recall_at_k,
    recall_curve,
)

pytestmark = pytest.mark.unit

KS = (1, 3, 10, 100)


def trec_per_query(scored_run: dict, qrels: dict, k: int) -> dict[str, dict[str, float]]:
    """pytrec_eval's values over the queries ours averages: judged ones with a relevant document.

    pytrec_eval skips a query absent from the run but scores one with no results as 0, so giving
    every such query an empty result list compares like with like. trec_eval has no MRR@k;
    ``recip_rank`` is 1/rank of the first relevant document, which lies within k iff 1/rr <= k.
    """
    judged = {q: dict(j) for q, j in qrels.items() if any(g > 0 for g in j.values())}
    filled = {q: scored_run.get(q, {}) for q in judged}
    measures = {f"ndcg_cut.{k}", f"recall.{k}", f"P.{k}", "recip_rank"}
    evaluator = pytrec_eval.RelevanceEvaluator(judged, measures)
    values = evaluator.evaluate(filled)
    assert set(values) == set(judged)
    return {
        q: {
            "ndcg": v[f"ndcg_cut_{k}"],
            "recall": v[f"recall_{k}"],
            "precision": v[f"P_{k}"],
            "mrr": v["recip_rank"] if v["recip_rank"] > 0 and round(1 / v["recip_rank"]) <= k else 0.0,
        }
        for q, v in values.items()
    }


def as_scores(ids: list[str]) -> dict[str, float]:
    """A ranked list as scores trec_eval ranks in the same order (first occurrence wins)."""
    unique = list(dict.fromkeys(ids))
    return {doc_id: float(len(unique) - i) for i, doc_id in enumerate(unique)}


def assert_agrees(run: dict, scored_run: dict, qrels: dict, k: int) -> None:
    reference = trec_per_query(scored_run, qrels, k)
    for metric in METRICS:
        ours = per_query(run, qrels, metric, k)
        assert set(ours) == set(reference)
        for query_id, value in ours.items():
            assert value == pytest.approx(reference[query_id][metric], abs=1e-9), (metric, k, query_id)
        expected_mean = math.fsum(r[metric] for r in reference.values()) / len(reference)
        assert mean(run, qrels, metric, k) == pytest.approx(expected_mean, abs=1e-9), (metric, k)


# --- hand-computed cases ---------------------------------------------------------------------------

GRADED_QRELS = {"q": {"d1": 2, "d2": 1, "d3": 0}}
GRADED_RUN = {"q": ["d3", "d1", "d4", "d2"]}


def test_graded_case_by_hand():
    ranked, judged = GRADED_RUN["q"], GRADED_QRELS["q"]
    # DCG@3 = 0 + 2/log2(3) + 0 = 1.26186; ideal@3 = 2 + 1/log2(3) = 2.63093 (gain = grade, not 2^g - 1).
    assert ndcg_at_k(ranked, judged, 3) == pytest.approx(0.479625, abs=1e-6)
    # DCG@10 adds d2 at rank 4: 1/log2(5) = 0.43068.
    assert ndcg_at_k(ranked, judged, 10) == pytest.approx(0.643322, abs=1e-6)
    assert ndcg_at_k(ranked, judged, 1) == 0.0
    assert recall_at_k(ranked, judged, 3) == 0.5 and recall_at_k(ranked, judged, 4) == 1.0
    assert precision_at_k(ranked, judged, 3) == pytest.approx(1 / 3)
    assert precision_at_k(ranked, judged, 10) == pytest.approx(0.2)  # divides by k, as trec_eval's P_k
    assert mrr_at_k(ranked, judged, 1) == 0.0 and mrr_at_k(ranked, judged, 3) == 0.5
    for k in KS:
        assert_agrees(GRADED_RUN, {"q": as_scores(GRADED_RUN["q"])}, GRADED_QRELS, k)


def test_perfect_and_empty_rankings():
    judged = {"a": 3, "b": 1}
    for k in KS:
        assert ndcg_at_k(["a", "b"], judged, k) == 1.0 and mrr_at_k(["a", "b"], judged, k) == 1.0
        assert recall_at_k(["a", "b"], judged, k) == (0.5 if k == 1 else 1.0)
        for metric in (ndcg_at_k, recall_at_k, mrr_at_k, precision_at_k):
            assert metric([], judged, k) == 0.0
    assert ndcg_at_k(["b", "a"], judged, 2) == pytest.approx((1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3)))


def test_zero_and_negative_grades_add_nothing():
    judged = {"d1": -1, "d2": 1, "d3": 0}
    assert ndcg_at_k(["d1", "d2"], judged, 2) == pytest.approx(1 / math.log2(3))  # 0.63093
    assert recall_at_k(["d1", "d3"], judged, 2) == 0.0
    assert mrr_at_k(["d1", "d3", "d2"], judged, 3) == pytest.approx(1 / 3)
    for k in KS:
        assert_agrees({"q": ["d1", "d2"]}, {"q": as_scores(["d1", "d2"])}, {"q": judged}, k)


def test_scored_ties_break_like_trec_eval_but_lists_keep_their_order():
    judged = {"a": 1}
    pairs = [("a", 1.0), ("b", 1.0), ("c", 1.0)]
    # trec_eval sorts by score, then by docno descending: c, b, a.
    assert ranking(pairs) == ["c", "b", "a"] == ranking(dict(pairs))
    assert mrr_at_k(ranking(pairs), judged, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(ranking(["a", "b", "c"]), judged, 10) == 1.0  # a list is already a ranking
    assert ranking([("x", 0.5), ("B", 2.0), ("b", 2.0), ("ba", 2.0)]) == ["ba", "b", "B", "x"]
    for k in KS:
        assert_agrees({"q": pairs}, {"q": dict(pairs)}, {"q": judged}, k)


def test_repeated_ids_count_once_at_their_best_rank():
    assert ranking(["d1", "d1", "d2"]) == ["d1", "d2"]
    assert ranking([("d1", 0.1), ("d2", 0.5), ("d1", 0.9)]) == ["d1", "d2"]
    assert recall_at_k(ranking(["d1", "d1"]), {"d1": 1, "d9": 1}, 2) == 0.5


def test_which_queries_count():
    qrels = {"q1": {"d1": 1}, "q2": {"d1": 1}, "q3": {"d1": 0}}
    run = {"q1": ["d1"], "q9": ["d1"]}
    # q2 was not answered: 0. q3 has nothing relevant and q9 is not judged: neither counts.
    assert per_query(run, qrels, "ndcg", 10) == {"q1": 1.0, "q2": 0.0}
    assert mean(run, qrels, "ndcg", 10) == 0.5
    assert mean({}, {}, "recall", 10) == 0.0
    for k in KS:
        assert_agrees(run, {q: as_scores(ids) for q, ids in run.items()}, qrels, k)


def test_evaluate_and_the_recall_curve():
    run = {"q1": ["d2", "d1"], "q2": [("d5", 0.3), ("d4", 0.9)]}
    qrels = {"q1": {"d1": 1}, "q2": {"d4": 2, "d5": 1, "d6": 1}}
    scores = evaluate(run, qrels, ks=(1, 2))
    assert set(scores) == {f"{m}@{k}" for m in METRICS for k in (1, 2)}
    assert scores["mrr@2"] == pytest.approx((0.5 + 1.0) / 2)
    assert scores["recall@1"] == pytest.approx((0 + 1 / 3) / 2)
    curve = recall_curve(run, qrels, [10, 1, 2, 2])
    assert list(curve) == [1, 2, 10]
    assert curve[1] == scores["recall@1"] and curve[2] == pytest.approx((1 + 2 / 3) / 2) == curve[10]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="k must be at least 1"):
        ndcg_at_k(["a"], {"a": 1}, 0)
    with pytest.raises(ValueError, match="unknown metric 'map'"):
        per_query({}, {}, "map", 10)
    with pytest.raises(TypeError):
        ranking("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ranking(["a", ("b", 1.0)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="NaN"):
        ranking([("a", float("nan"))])


# --- randomized agreement with trec_eval -----------------------------------------------------------


def random_case(rng: random.Random) -> tuple[dict, dict]:
    """Graded qrels (with zero, negative and no-relevant queries) and a scored run with many ties."""
    ids: set[str] = set()
    while len(ids) < 160:  # short ids from a small alphabet collide in prefix order, as real ids do
        ids.add(rng.choice(["d", ""]) + "".join(rng.choices("abAB0é_9", k=rng.randint(1, 3))))
    pool = sorted(ids)
    qrels: dict[str, dict[str, int]] = {}
    for q in range(30):
        judged = rng.sample(pool, rng.choice([0, 1, 2, 5, 12, 40]))
        qrels[f"q{q}"] = {d: rng.choice([-1, 0, 0, 1, 1, 1, 2, 3]) for d in judged}
    scored: dict[str, dict[str, float]] = {}
    for q in [*qrels, "extra1", "extra2"]:
        if rng.random() < 0.15:
            continue  # a query the run never answered
        depth = rng.choice([0, 1, 3, 9, 30, 120, 160])
        levels = [0.1, 0.5, 1.0, 2.0, float(rng.randint(0, 3))]
        docs = rng.sample(pool, depth)
        scored[q] = {d: rng.choice(levels) if rng.random() < 0.6 else rng.random() for d in docs}
    return qrels, scored


@pytest.mark.parametrize("seed", range(6))
def test_scored_runs_agree_with_trec_eval(seed):
    qrels, scored = random_case(random.Random(seed))
    for k in KS:
        assert_agrees({q: list(s.items()) for q, s in scored.items()}, scored, qrels, k)
        assert_agrees(scored, scored, qrels, k)  # BEIR's {doc: score} mapping


@pytest.mark.parametrize("seed", range(6, 10))
def test_ranked_lists_agree_with_trec_eval(seed):
    rng = random.Random(seed)
    qrels, scored = random_case(rng)
    run = {}
    for q, s in scored.items():
        ids = list(s)
        rng.shuffle(ids)
        run[q] = ids + rng.sample(ids, min(3, len(ids)))  # repeats count once, at the first place
    for k in KS:
        assert_agrees(run, {q: as_scores(ids) for q, ids in run.items()}, qrels, k)


def test_evaluate_is_the_mean_of_each_metric():
    qrels, scored = random_case(random.Random(42))
    scores = evaluate(scored, qrels, ks=KS)
    for k in KS:
        reference = trec_per_query(scored, qrels, k)
        for metric in METRICS:
            expected = math.fsum(r[metric] for r in reference.values()) / len(reference)
            assert scores[f"{metric}@{k}"] == pytest.approx(expected, abs=1e-9)
    assert recall_curve(scored, qrels, KS) == {k: scores[f"recall@{k}"] for k in KS}


# --- latency ---------------------------------------------------------------------------------------


def test_latency_summary_by_hand():
    # numpy "linear": p95 sits at 0.95 * (n - 1) = 2.85 -> 30 + 0.85 * (40 - 30) = 38.5.
    summary = latency_summary([40, 10, 30, 20])
    assert summary == {
        "count": 4,
        "mean": 25.0,
        "max": 40.0,
        "p50": 25.0,
        "p95": pytest.approx(38.5),
        "p99": pytest.approx(39.7),
    }
    assert latency_summary(iter([7.5])) == dict(count=1, mean=7.5, p50=7.5, p95=7.5, p99=7.5, max=7.5)


@pytest.mark.parametrize("bad", [[], [1.0, -2.0], [float("nan")], [float("inf")]])
def test_latency_summary_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        latency_summary(bad)
