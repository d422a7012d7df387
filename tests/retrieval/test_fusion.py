import pytest

from retrieval.fusion import weighted_rrf

pytestmark = pytest.mark.unit


def test_matches_hand_computed_rrf():
    fused = dict(
        weighted_rrf({"bm25": ["a", "b", "c"], "dense": ["c", "a", "d"]}, {"bm25": 1.0, "dense": 1.0}, k=60)
    )
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["d"] == pytest.approx(1 / 63)


def test_weights_scale_each_ranking():
    fused = weighted_rrf({"bm25": ["a", "b"], "dense": ["b", "a"]}, {"bm25": 0.25, "dense": 1.0}, k=1)
    assert fused[0] == ("b", pytest.approx(0.25 / 3 + 1.0 / 2))
    assert fused[1] == ("a", pytest.approx(0.25 / 2 + 1.0 / 3))


def test_ties_keep_first_appearance_and_missing_weight_counts_one():
    fused = weighted_rrf({"x": ["a"], "y": ["b"]}, {}, k=60)
    assert [item for item, _ in fused] == ["a", "b"]
    assert fused[0][1] == pytest.approx(1 / 61)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        weighted_rrf({"x": ["a"]}, {"x": 1.0}, k=0)
    with pytest.raises(ValueError):
        weighted_rrf({"x": ["a"]}, {"x": -1.0})
