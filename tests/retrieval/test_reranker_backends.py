"""The reranker registry: settings pick a backend by name; the test backend needs no edit elsewhere.

The test backend (``tests/support/reranker_backend.py``) is registered by a fixture and removed after.
The real backends' scores are checked against each other in ``test_onnx_reranker.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from askdocs.registry import UnknownBackend
from retrieval.rerankers import RERANKERS, load_reranker, rerank_order, reranker_from_settings
from tests.conftest import make_settings
from tests.support import reranker_backend
from tests.support.reranker_backend import WordOverlapReranker

pytestmark = pytest.mark.unit


@pytest.fixture()
def registered() -> Iterator[str]:
    """The one registry line a new backend needs, here only while the test runs."""
    RERANKERS.add(reranker_backend.NAME, "tests.support.reranker_backend:from_settings")
    yield reranker_backend.NAME
    RERANKERS.remove(reranker_backend.NAME)


def test_settings_build_a_backend_registered_by_name(registered: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, reranker="words", reranker_backend=registered, reranker_max_length=128)
    made = reranker_from_settings(settings)
    assert isinstance(made, WordOverlapReranker) and (made.spec, made.max_length) == ("words", 128)
    adapted = load_reranker("runs/a", settings, max_length=64)  # how an adopted adaptation loads
    assert isinstance(adapted, WordOverlapReranker) and adapted.max_length == 64


def test_an_unknown_backend_fails_with_the_choices(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, reranker_backend="tensorrt")  # Settings itself accepts any name
    message = (
        "ASKDOCS_RERANKER_BACKEND='tensorrt' is not a known reranker backend; "
        "choose one of: onnx, onnx-int8, torch"
    )
    with pytest.raises(UnknownBackend, match=message):
        reranker_from_settings(settings)  # even with no reranker set: the setting is wrong either way
    with pytest.raises(UnknownBackend, match=message):
        reranker_from_settings(settings.model_copy(update={"reranker": "/models/rr"}))
    assert reranker_backend.NAME not in RERANKERS  # registered only while a test needs it


def test_the_base_class_batches_and_keeps_the_callers_order() -> None:
    reranker = WordOverlapReranker("words", batch_size=2)
    passages = ["read a file", "bananas", "", "a file, line by line", "日本語 file", "line"]
    scores = reranker.score("read a file line by line", passages)
    assert scores == [reranker.score("read a file line by line", [p])[0] for p in passages]
    assert [i for i, _ in rerank_order(scores)][:2] == [3, 0]
    assert reranker.score("anything", []) == []
