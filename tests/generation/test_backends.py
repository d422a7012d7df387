"""Both generator backends for real: transformers on SmolLM2, and the OpenAI client against llama.cpp's server."""

from __future__ import annotations

import threading

import pytest

from generation.backends import GeneratorUnavailable, OpenAICompatibleGenerator, TransformersGenerator
from askdocs.localserver import free_port
from tests.conftest import MODEL_CACHE, SMOLLM

pytestmark = pytest.mark.integration

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write three sentences about the sea."},
]


@pytest.fixture(scope="module")
def local():
    return TransformersGenerator(SMOLLM, MODEL_CACHE, device="cpu")


def test_local_backend_streams_in_pieces(local):
    pieces = list(local.stream(MESSAGES, max_tokens=40))
    assert len(pieces) >= 3 and len("".join(pieces).split()) >= 5
    assert local.prompt_tokens(MESSAGES) > local.count_tokens(MESSAGES[1]["content"])
    assert local.context_window >= 2048


def test_local_backend_stops_when_asked(local):
    stop = threading.Event()
    pieces = []
    for piece in local.stream(MESSAGES, max_tokens=200, stop=stop):
        pieces.append(piece)
        if len(pieces) == 2:
            stop.set()
    assert 2 <= len(pieces) <= 4  # a piece or two may already be in flight
    assert list(local.stream(MESSAGES, max_tokens=5))  # the model's lock was released


def test_local_backend_is_safe_from_several_threads(local):
    results: list[str] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            results.append("".join(local.stream(MESSAGES, max_tokens=8)))
            local.count_tokens("counting while another thread generates")
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and len(results) == 3 and all(results)


def test_api_backend_streams_from_a_real_openai_compatible_server(llama_server):
    api = OpenAICompatibleGenerator(llama_server, "smollm2", "none", timeout_s=60, retries=0)
    pieces = list(api.stream(MESSAGES, max_tokens=40))
    assert len(pieces) >= 3 and len("".join(pieces).split()) >= 5


def test_api_backend_stops_when_asked(llama_server):
    api = OpenAICompatibleGenerator(llama_server, "smollm2", "none", timeout_s=60, retries=0)
    stop = threading.Event()
    pieces = []
    for piece in api.stream(MESSAGES, max_tokens=200, stop=stop):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    assert len(pieces) == 3


def test_api_backend_down_is_a_clear_error():
    api = OpenAICompatibleGenerator(f"http://127.0.0.1:{free_port()}/v1", "m", "k", timeout_s=2, retries=0)
    with pytest.raises(GeneratorUnavailable, match="did not answer"):
        list(api.stream(MESSAGES, max_tokens=5))


@pytest.mark.unit
def test_an_api_backend_name_never_shows_credentials():
    api = OpenAICompatibleGenerator("https://user:s3cret@llm.example/v1", "m", "k", timeout_s=2, retries=0)
    assert api.name == "api:m@https://llm.example/v1"
