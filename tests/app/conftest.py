"""A data folder with the sample documents indexed once per session, for the API servers to copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
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


def copy_index(sample_index: Path, folder: Path) -> Path:
    """A private copy of the sample index under ``folder``; each server writes only to its own."""
    return Path(shutil.copytree(sample_index, folder / "data"))


def events(response: httpx.Response) -> list[tuple[str, dict]]:
    """The server-sent events of a response, as (event, data) pairs."""
    found = []
    for block in response.text.split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.splitlines())
            found.append((fields["event"], json.loads(fields["data"])))
    return found
