"""The embedder registry: settings pick a backend by name, and one contract holds for every backend.

The test backend (``tests/support/embedder_backend.py``) is registered by a fixture and removed after,
and ``embedder_from_settings`` builds it with no other edit: a new backend is one file and one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from askdocs.registry import UnknownBackend
from retrieval.embedders import EMBEDDERS, Embedder, embedder_from_settings, load_embedder
from tests.conftest import MODEL_CACHE, make_settings
from tests.retrieval.test_embedder import ANSWER, CAT, KITTEN, QUERY, TAX, assert_same_vectors
from tests.support import embedder_backend
from tests.support.embedder_backend import HashedWordsEmbedder

# backend -> the spec its contract runs on; every registered backend is here (or the guard below fails)
CHEAP = {
    "torch": "pkg:all-minilm-l6-v2",
    "onnx": "pkg:all-minilm-l6-v2",  # exported once into the test model cache
    "onnx-int8": "pkg:all-minilm-l6-v2",
    "wordllama": "pkg:wordllama-l2-supercat",
    embedder_backend.NAME: "test/hashing",
}
BATCH = 2  # smaller than every call below that has more than one text
UNICODE = ["日本語のテキスト", "Ελληνικά γράμματα", "café naïve façade", "emoji 🙂 and ✓ marks", "x"]


@contextmanager
def hashing_backend_registered() -> Iterator[str]:
    """The one registry line a new backend needs, here only while a test needs it."""
    EMBEDDERS.add(embedder_backend.NAME, "tests.support.embedder_backend:HashedWordsEmbedder")
    try:
        yield embedder_backend.NAME
    finally:
        EMBEDDERS.remove(embedder_backend.NAME)


@pytest.fixture()
def registered() -> Iterator[str]:
    with hashing_backend_registered() as name:
        yield name


@pytest.mark.unit
def test_settings_build_a_backend_registered_by_name(registered: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, embedder="test/hashing", embedder_backend=registered)
    made = embedder_from_settings(settings)
    assert isinstance(made, HashedWordsEmbedder) and made.identity == "test/hashing#test-hashing"


@pytest.mark.unit
def test_an_unknown_backend_fails_with_the_choices(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, embedder_backend="onnx-int4")  # Settings itself accepts any name
    with pytest.raises(
        UnknownBackend,
        match="ASKDOCS_EMBEDDER_BACKEND='onnx-int4' is not a known embedder "
        "backend; choose one of: onnx, onnx-int8, torch, wordllama",
    ):
        embedder_from_settings(settings)
    assert embedder_backend.NAME not in EMBEDDERS  # registered only while a test needs it


@pytest.mark.unit
def test_every_registered_backend_runs_the_contract(registered: str) -> None:
    assert set(EMBEDDERS.names()) == set(CHEAP)  # a new backend adds its spec to CHEAP, or says why not


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            name, marks=pytest.mark.unit if name == embedder_backend.NAME else pytest.mark.integration
        )
        for name in CHEAP
    ],
)
def backend(request: pytest.FixtureRequest) -> Embedder:
    with hashing_backend_registered():
        return load_embedder(CHEAP[request.param], "cpu", BATCH, MODEL_CACHE, request.param)


def test_no_texts_give_no_vectors(backend: Embedder) -> None:
    vectors = backend.embed([])
    assert vectors.shape == (0, backend.dimension) and vectors.dtype == np.float32


def test_one_text_gives_one_unit_vector(backend: Embedder) -> None:
    vectors = backend.embed(["How do I sort a list?"])
    assert vectors.shape == (1, backend.dimension) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_more_texts_than_a_batch_come_back_in_order(backend: Embedder) -> None:
    # realistic texts: int8 vectors of one-character ones move more with their batch (test_embedder.py)
    texts = [CAT, TAX, QUERY, ANSWER, KITTEN]
    together = backend.embed(texts)
    assert together.shape == (len(texts), backend.dimension)
    assert_same_vectors(backend, together, np.vstack([backend.embed([t]) for t in texts]))
    if isinstance(backend, HashedWordsEmbedder):  # the base class cut the batches
        assert max(backend.batches) == BATCH


def test_unicode_texts(backend: Embedder) -> None:
    vectors = backend.embed(UNICODE)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert all(backend.count_tokens(t) > 0 for t in UNICODE) and backend.count_tokens("") == 0
