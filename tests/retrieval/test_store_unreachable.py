"""Server mode with the Chroma server gone: a typed error from every call, and recovery when it returns.

Each test runs its own ``chroma run`` (not the suite's shared one) so it can stop it and start it
again on the same port and data folder, as an operator restarting the server would.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from askdocs.localserver import free_port, start_server, stop_server
from generation.pipeline import AnswerPipeline
from ingest.pipeline import Ingestor
from retrieval.factory import open_for_command_line, open_retrieval
from retrieval.stores import StoreUnavailable
from tests.conftest import make_settings
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.integration

TEXT = b"""# Sorting

The operator module provides the itemgetter() and attrgetter() functions used for sorting.
Sorts are guaranteed to be stable: records with equal keys keep their original order.
"""
QUESTION = "Which module provides itemgetter and attrgetter?"


class ChromaProcess:
    """A real ``chroma run`` on a fixed port and folder, which a test can stop and start again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process = None
        self.starts = 0

    def start(self) -> None:
        chroma = Path(sys.executable).with_name("chroma")
        args = [
            str(chroma),
            "run",
            "--path",
            str(self.folder / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.starts += 1
        self.process = start_server(args, self.port, self.folder / f"server-{self.starts}.log")

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process)
            self.process = None


@pytest.fixture
def chroma_process(tmp_path: Path) -> Iterator[ChromaProcess]:
    (tmp_path / "chroma").mkdir()
    server = ChromaProcess(tmp_path / "chroma")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def server_settings(folder: Path, port: int):  # noqa: ANN201 - Settings
    return make_settings(folder, chroma_mode="server", chroma_port=port, abstain_below=0.0)


def test_opening_the_store_with_the_server_down_is_a_typed_error_not_a_traceback(tmp_path, capsys):
    settings = server_settings(tmp_path / "data", free_port())  # nothing listens there
    started = time.monotonic()
    with pytest.raises(
        StoreUnavailable, match=r"document index \(Chroma server at 127\.0\.0\.1:\d+\) is unreachable"
    ):
        open_retrieval(settings)
    assert time.monotonic() - started < 5  # the store is tried first: no model was loaded for nothing
    assert open_for_command_line(settings) is None
    assert "is unreachable; try again shortly" in capsys.readouterr().err


@pytest.mark.slow
def test_questions_fail_clearly_while_the_server_is_down_and_work_again_when_it_returns(
    tmp_path, embedder, chroma_process
):
    settings = server_settings(tmp_path / "data", chroma_process.port)
    stack = open_retrieval(settings, embedder=embedder)
    ingestor = Ingestor(stack.store, embedder, stack.bm25, settings)
    assert ingestor.ingest_bytes("sorting.md", TEXT, "default").status == "ingested"
    ingestor.rebuild_bm25("default")
    pipeline = AnswerPipeline(stack.retriever, ScriptedGenerator("The operator module [1]."), settings)
    before = pipeline.ask(QUESTION)
    assert [c.source for c in before.citations] == ["sorting.md"]
    assert stack.store.count("missing") == 0  # a collection that does not exist is still just empty
    chunks = stack.store.count("default")
    assert chunks > 0

    chroma_process.stop()
    for call in (
        lambda: pipeline.ask(QUESTION),
        stack.store.collections,
        lambda: stack.store.count("default"),
        lambda: stack.store.count("never-opened"),  # not "0 chunks": the server could not say
        lambda: stack.store.policy("default"),  # not "unrestricted": the server could not say
        lambda: list(stack.store.iter_chunks("default")),
    ):
        with pytest.raises(StoreUnavailable, match="is unreachable; try again shortly"):
            call()

    chroma_process.start()  # same port, same data: the same client reconnects by itself
    after = pipeline.ask(QUESTION)
    assert after.text == before.text and [c.chunk_id for c in after.citations] == [
        c.chunk_id for c in before.citations
    ]
    assert stack.store.collections() == ["default"] and stack.store.count("default") == chunks
    stack.close()
