"""The routing benchmark, CI-sized: real models (SmolLM2-135M fast, the default Qwen strong), real index.

Three questions (one simple, one hard, one unanswerable) answered by each configuration. What must
hold: each question reaches the tier the rule names, and routing changes nothing but which model
answers, so a routed answer is word for word the answer of that tier alone (greedy decoding).
"""

from __future__ import annotations

import math

import pytest

from bench import routing
from tests.conftest import SMOLLM, make_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    settings = make_settings(tmp_path_factory.mktemp("routing"))
    return routing.run(settings, SMOLLM, settings.generator_model, quick=True, price=(1.0, 2.0))


def test_each_question_reaches_the_tier_the_rule_names(report: dict) -> None:
    fast, strong = report["fast"], report["strong"]
    assert (report["questions"], report["hard questions"]) == (3, 1)
    routed = report["per_query"]["routed"]
    simple_id, hard_id, unanswerable_id = routed
    assert (routed[simple_id]["tier"], routed[simple_id]["backend"]) == ("fast", fast)
    assert (routed[hard_id]["tier"], routed[hard_id]["backend"]) == ("strong", strong)
    assert routed[unanswerable_id]["abstained"] and routed[unanswerable_id]["tier"] == ""
    assert {r["backend"] for r in report["per_query"]["fast only"].values() if r["tokens_in"]} == {fast}
    assert {r["backend"] for r in report["per_query"]["strong only"].values() if r["tokens_in"]} == {strong}


def test_a_routed_answer_is_the_answer_of_its_tier_alone(report: dict) -> None:
    per_query = report["per_query"]
    for question_id, row in per_query["routed"].items():
        alone = per_query["fast only" if row["tier"] == "fast" else "strong only"][question_id]
        assert row["answer"] == alone["answer"], question_id
    assert per_query["routed"]["q1"]["tokens_out"] <= 96  # the fast tier's answer limit


def test_the_summary_counts_strong_tokens_cost_and_ratios(report: dict) -> None:
    summary, ratios = report["summary"], report["ratios"]
    assert [summary[c]["to strong"] for c in routing.CONFIGS] == [0, 2, 1]
    routed = summary["routed"]
    assert routed["strong cost USD"] == pytest.approx(
        (routed["strong tokens in"] * 1.0 + routed["strong tokens out"] * 2.0) / 1e6
    )
    assert 0 < ratios["strong tokens, routed / strong only"] < 1
    assert all(math.isfinite(v) for v in ratios.values())
    assert "| correctness |" in routing.table(report)
