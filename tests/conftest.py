"""Fixtures shared by the whole suite: isolated settings, real models loaded once, a real Chroma server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from askdocs.localserver import free_port, running_server
from askdocs.quiet import quiet_libraries
from askdocs.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DOCS = ROOT / "sample_docs" / "documents"
# Converted generator weights survive between runs (and tests); everything else lives in tmp dirs.
SMOLLM = "pkg:smollm2-135m-instruct"  # the tiny real model for backend, server and judge tests
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
    from retrieval.embedders.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("pkg:all-minilm-l6-v2", device="cpu")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real ``chroma run`` on loopback, started and stopped by the suite."""
    folder = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    args = [str(chroma), "run", "--path", str(folder / "data"), "--host", "127.0.0.1", "--port", str(port)]
    with running_server(args, port, folder / "server.log"):
        yield "127.0.0.1", port


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's real OpenAI-compatible server on loopback, serving SmolLM2 as model "smollm2"."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] comes with requirements-dev.txt")
    from askdocs.models import packaged_gguf

    folder = tmp_path_factory.mktemp("llama")
    port = free_port()
    model = packaged_gguf(SMOLLM, MODEL_CACHE)
    args = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--model_alias",
        "smollm2",
    ]
    with running_server(args, port, folder / "server.log", timeout_s=120):
        yield f"http://127.0.0.1:{port}/v1"
