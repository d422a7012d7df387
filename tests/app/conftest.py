"""A data folder with the sample documents indexed once per session, for the API servers to copy
(``tests.support.api_server.copy_index``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import Ingestor
from retrieval.factory import open_retrieval
from tests.conftest import SAMPLE_DOCS, make_settings


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:  # noqa: ANN001 - conftest's
    """A closed data folder (Chroma + BM25) holding ``sample_docs/documents`` in the default collection."""
    data = tmp_path_factory.mktemp("sample-index") / "data"
    settings = make_settings(data)
    stack = open_retrieval(settings, embedder=embedder)
    try:
        Ingestor(stack.store, stack.embedder, stack.bm25, settings).ingest_paths([SAMPLE_DOCS])
    finally:
        stack.close()  # releases the folder's lock: the servers open copies of it
    return data
