"""The generator backends for real: transformers and llama.cpp in-process on SmolLM2, and the OpenAI client
against llama.cpp's server."""

from __future__ import annotations

import threading

import pytest

from askdocs.localserver import free_port
from generation.generators import GeneratorUnavailable
from generation.generators.llamacpp import LlamaCppGenerator
from generation.generators.openai import OpenAICompatibleGenerator
from generation.generators.transformers import TransformersGenerator
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


@pytest.fixture(scope="module")
def llamacpp():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python comes with requirements-dev.txt")
    return LlamaCppGenerator(SMOLLM, MODEL_CACHE, threads=1)  # 1 thread: CI shares its cores with others


def test_llamacpp_backend_streams_in_pieces(llamacpp, local):
    pieces = list(llamacpp.stream(MESSAGES, max_tokens=40))
    assert len(pieces) >= 3 and len("".join(pieces).split()) >= 5
    assert llamacpp.name == f"llamacpp:{SMOLLM}"
    assert 2048 <= llamacpp.context_window <= 8192
    # the GGUF's own chat template and tokenizer: the same counts as the transformers conversion of it
    assert llamacpp.prompt_tokens(MESSAGES) == local.prompt_tokens(MESSAGES)
    assert llamacpp.count_tokens(MESSAGES[1]["content"]) == local.count_tokens(MESSAGES[1]["content"])


def test_llamacpp_backend_answers_like_transformers_greedily(llamacpp, local):
    question = [{"role": "user", "content": "What is 2 + 2?"}]
    ours, theirs = "".join(llamacpp.stream(question, 12)), "".join(local.stream(question, 12))
    # same weights (Q4_1 dequantised for transformers), so greedy answers share their start at least
    assert ours[:8] == theirs[:8], (ours, theirs)


def test_llamacpp_backend_stops_when_asked(llamacpp):
    stop = threading.Event()
    pieces = []
    for piece in llamacpp.stream(MESSAGES, max_tokens=200, stop=stop):
        pieces.append(piece)
        if len(pieces) == 2:
            stop.set()
    assert len(pieces) == 2
    left = llamacpp.stream(MESSAGES, max_tokens=200)
    next(left)
    left.close()  # the consumer leaves mid-answer (a closed session)
    assert list(llamacpp.stream(MESSAGES, max_tokens=5))  # the model's lock was released


def test_llamacpp_backend_is_safe_from_several_threads(llamacpp):
    results: list[str] = []

    def ask() -> None:
        results.append("".join(llamacpp.stream(MESSAGES, max_tokens=8)))
        llamacpp.count_tokens("counting while another thread generates")

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 3 and len(set(results)) == 1  # greedy, one at a time: the same answer


def test_llamacpp_prompt_over_the_context_is_a_clear_error():
    pytest.importorskip("llama_cpp")
    small = LlamaCppGenerator(SMOLLM, MODEL_CACHE, context_window=256, threads=1)
    with pytest.raises(GeneratorUnavailable):
        list(small.stream([{"role": "user", "content": "word " * 400}], max_tokens=5))


@pytest.mark.parametrize("backend", ["local", "llamacpp"])
def test_a_finished_answer_leaves_the_callers_stop_event_unset(backend, request):
    # The pipeline reads a set event as "the user stopped this answer" and then does not cache it.
    generator = request.getfixturevalue(backend)
    stop = threading.Event()
    assert "".join(generator.stream(MESSAGES, max_tokens=8, stop=stop))
    assert not stop.is_set()
    unfinished = generator.stream(MESSAGES, max_tokens=200, stop=stop)
    next(unfinished)
    unfinished.close()  # a consumer that leaves early ends generation without touching the caller's event
    assert not stop.is_set()
    assert "".join(generator.stream(MESSAGES, max_tokens=4))  # and the model is free again
