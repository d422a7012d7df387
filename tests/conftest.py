"""Fixtures shared by the whole suite: isolated settings, real models loaded once, a real Chroma server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from askdocs.quiet import quiet_libraries
from askdocs.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DOCS = ROOT / "sample_docs" / "documents"
# Converted generator weights survive between runs (and tests); everything else lives in tmp dirs.
MODEL_CACHE = Path(os.environ.get("ASKDOCS_TEST_MODEL_CACHE", ROOT / ".askdocs" / "test-models"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
quiet_libraries()


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, model_cache=MODEL_CACHE, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def embedder():
    from retrieval.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("pkg:all-minilm-l6-v2", device="cpu")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not listen on {port} within {timeout}s:\n{log.read_text()[-2000:]}")


def start_server(args: list[str], port: int, log: Path, timeout: float = 60) -> subprocess.Popen:
    handle = log.open("w")
    process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT)
    wait_for_port(port, process, timeout, log)
    return process


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real ``chroma run`` on loopback, started and stopped by the suite."""
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    process = start_server(
        [str(chroma), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)],
        port, folder / "server.log",
    )
    try:
        yield "127.0.0.1", port
    finally:
        stop_server(process)
