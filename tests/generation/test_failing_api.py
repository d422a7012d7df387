"""The API backend when its server fails: real llama.cpp behind a fault-injecting proxy, or stopped.

Each test puts :class:`FaultyProxy` between the openai client and the session's llama.cpp server and
counts the requests that reached it, so retries are proven by what went over the wire.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from askdocs.localserver import free_port, running_server
from askdocs.types import Answer
from generation.generators import GeneratorUnavailable
from generation.generators.openai import OpenAICompatibleGenerator
from generation.pipeline import CUT_OFF, AnswerPipeline
from tests.conftest import MODEL_CACHE, SMOLLM, make_settings
from tests.generation.faulty_proxy import FaultyProxy
from tests.generation.test_pipeline import FixedRetriever

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "Write three sentences about the sea."}]
KEY = "sk-test-0123456789-SECRET"


@pytest.fixture
def proxy(llama_server: str) -> Iterator[FaultyProxy]:
    with FaultyProxy(llama_server.removesuffix("/v1")) as faulty:
        yield faulty


def api(proxy: FaultyProxy, timeout_s: float = 30, retries: int = 0) -> OpenAICompatibleGenerator:
    return OpenAICompatibleGenerator(f"{proxy.url}/v1", "smollm2", KEY, timeout_s=timeout_s, retries=retries)


def chat_requests(proxy: FaultyProxy) -> int:
    return sum(path.endswith("/chat/completions") for path in proxy.requests)


def test_the_proxy_passes_a_healthy_stream_through(proxy):
    pieces = list(api(proxy).stream(MESSAGES, max_tokens=12))
    assert len(pieces) >= 3 and chat_requests(proxy) == 1


# -- timeouts ---------------------------------------------------------------------------------------
def test_a_slowed_server_hits_the_read_timeout_instead_of_hanging(proxy):
    proxy.faults.delay_s = 2.5
    started = time.monotonic()
    with pytest.raises(GeneratorUnavailable, match="did not answer: no answer within 1 s"):
        list(api(proxy, timeout_s=1).stream(MESSAGES, max_tokens=8))
    assert time.monotonic() - started < 2


def test_a_timeout_is_retried(proxy):
    proxy.faults.delay_s = 1.5
    with pytest.raises(GeneratorUnavailable, match="no answer within 0.5 s"):
        list(api(proxy, timeout_s=0.5, retries=1).stream(MESSAGES, max_tokens=8))
    assert chat_requests(proxy) == 2


def test_the_connect_and_read_timeouts_are_separate():
    # A single float would make the connect timeout 60 s too: a dead host would hold a session a minute.
    timeout = OpenAICompatibleGenerator(
        "http://127.0.0.1:9/v1", "m", "k", timeout_s=60, retries=0
    )._client.timeout
    assert (timeout.connect, timeout.read) == (5.0, 60.0)


# -- retries ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 500, 503])
def test_429_and_5xx_are_retried_until_the_server_answers(proxy, status):
    proxy.faults.fail_status, proxy.faults.fail_times = status, 2
    pieces = list(api(proxy, retries=2).stream(MESSAGES, max_tokens=8))
    assert pieces and chat_requests(proxy) == 3


def test_retries_run_out_with_a_clear_error(proxy):
    proxy.faults.fail_status, proxy.faults.fail_times = 503, 5
    with pytest.raises(GeneratorUnavailable, match="did not answer: HTTP 503"):
        list(api(proxy, retries=2).stream(MESSAGES, max_tokens=8))
    assert chat_requests(proxy) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_fail_at_once_without_a_retry(proxy, status):
    proxy.faults.fail_status, proxy.faults.fail_times = status, 1
    with pytest.raises(GeneratorUnavailable, match=f"HTTP {status}"):
        list(api(proxy, retries=3).stream(MESSAGES, max_tokens=8))
    assert chat_requests(proxy) == 1


def test_a_refused_connection_is_retried_and_succeeds_when_the_server_returns(proxy):
    proxy.stop()
    threading.Timer(0.2, proxy.start).start()  # back during the client's first backoff (~0.4-0.5 s)
    pieces = list(api(proxy, retries=2).stream(MESSAGES, max_tokens=8))
    assert pieces and chat_requests(proxy) == 1  # the refused attempt never reached it, the retry did


def test_a_refused_connection_fails_clearly_once_retries_run_out(proxy):
    proxy.stop()
    with pytest.raises(
        GeneratorUnavailable, match=r"the API at http://127\.0\.0\.1:\d+/v1 did not answer: could not"
    ):
        list(api(proxy, retries=1).stream(MESSAGES, max_tokens=8))


# -- mid-stream -------------------------------------------------------------------------------------
def test_a_stream_dropped_mid_answer_raises_after_the_pieces_that_arrived(proxy):
    proxy.faults.cut_after_events = 5  # the first event carries only the role
    pieces: list[str] = []
    with pytest.raises(GeneratorUnavailable, match="stream broke off"):
        for piece in api(proxy, retries=2).stream(MESSAGES, max_tokens=40):
            pieces.append(piece)
    assert 0 < len(pieces) <= 4  # events carry at most one piece (some carry none)
    assert chat_requests(proxy) == 1  # a stream under way is never retried


def test_a_stream_that_ends_cleanly_but_unfinished_is_not_taken_for_a_whole_answer(proxy):
    proxy.faults.cut_after_events, proxy.faults.cut_cleanly = 5, True
    pieces: list[str] = []
    with pytest.raises(GeneratorUnavailable, match="ended before the answer was finished"):
        for piece in api(proxy).stream(MESSAGES, max_tokens=40):
            pieces.append(piece)
    assert 0 < len(pieces) <= 4


def test_a_server_going_silent_mid_answer_times_out(proxy):
    proxy.faults.stall_after_events, proxy.faults.delay_s = 4, 3
    pieces: list[str] = []
    with pytest.raises(GeneratorUnavailable, match="stream broke off: no answer within 1 s"):
        for piece in api(proxy, timeout_s=1).stream(MESSAGES, max_tokens=40):
            pieces.append(piece)
            last_piece = time.monotonic()
    assert (
        0 < len(pieces) <= 3 and 0.9 < time.monotonic() - last_piece < 2
    )  # the 1 s read timeout, not the 3 s stall


def run_pipeline(generator: OpenAICompatibleGenerator) -> tuple[list[str], Answer]:
    pipeline = AnswerPipeline(
        FixedRetriever(0.9), generator, make_settings("/tmp/unused", max_answer_tokens=60)
    )
    events = list(pipeline.stream("What does sort return?"))
    return events[:-1], events[-1]


@pytest.mark.slow  # the first prompt with passages: llama.cpp's prefill takes several seconds on CPU
def test_the_pipeline_keeps_a_cut_off_answer_and_marks_it_incomplete(proxy):
    whole_pieces, whole = run_pipeline(api(proxy))
    assert not whole.incomplete and whole.incomplete_reason == ""
    proxy.faults.cut_after_events = 8
    pieces, answer = run_pipeline(api(proxy))
    assert answer.incomplete and answer.incomplete_reason == CUT_OFF
    # What arrived is kept: greedy decoding makes it the start of the whole answer, and shorter.
    partial = "".join(pieces)
    assert partial.strip() and "".join(whole_pieces).startswith(partial) and len(pieces) < len(whole_pieces)
    assert answer.text.strip() and answer.completion_tokens > 0 and "first_token" in answer.timings
    # Citations were checked on what arrived: every one points at a source the model was given.
    assert all(1 <= c.number <= len(answer.sources) for c in answer.citations)


def test_a_failure_before_the_first_piece_still_raises_so_the_app_can_fall_back(proxy):
    proxy.faults.cut_after_events = 1  # only the role event: no text yet
    with pytest.raises(GeneratorUnavailable):
        run_pipeline(api(proxy))


# -- secrets ----------------------------------------------------------------------------------------
def leaked_error(generator: OpenAICompatibleGenerator) -> GeneratorUnavailable:
    with pytest.raises(GeneratorUnavailable) as raised:
        list(generator.stream(MESSAGES, max_tokens=8))
    assert "HTTP 401" in str(raised.value) and "***" in str(raised.value)  # the server did echo it back
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no chained copy either
    return raised.value


def test_an_error_never_carries_the_api_key_even_when_the_server_echoes_it(proxy):
    proxy.faults.fail_status, proxy.faults.fail_times, proxy.faults.echo_key = 401, 1, True
    assert KEY not in str(leaked_error(api(proxy)))


def test_an_error_never_carries_the_urls_credentials_even_as_basic_auth(proxy):
    # httpx sends a URL's user:password as "Authorization: Basic <base64>", which a server may echo.
    proxy.faults.fail_status, proxy.faults.fail_times, proxy.faults.echo_key = 401, 1, True
    leaky = OpenAICompatibleGenerator(
        f"http://alice:pa55word@127.0.0.1:{proxy.port}/v1", "smollm2", KEY, timeout_s=5, retries=0
    )
    text = str(leaked_error(leaky))
    assert "pa55word" not in text and "alice" not in text and "YWxpY2U6cGE1NXdvcmQ=" not in text


# -- the real server process stopped ----------------------------------------------------------------
@pytest.mark.slow
def test_a_stopped_llama_cpp_server_fails_fast_and_clearly(tmp_path):
    pytest.importorskip("llama_cpp")
    from askdocs.models import packaged_gguf

    port = free_port()
    args = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(packaged_gguf(SMOLLM, MODEL_CACHE)),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--model_alias",
        "smollm2",
    ]
    generator = OpenAICompatibleGenerator(
        f"http://127.0.0.1:{port}/v1", "smollm2", KEY, timeout_s=30, retries=2
    )
    with running_server(args, port, tmp_path / "server.log", timeout_s=120):
        assert list(generator.stream(MESSAGES, max_tokens=8))
    started = time.monotonic()  # the process has exited: nothing listens on the port any more
    with pytest.raises(GeneratorUnavailable, match="could not connect"):
        list(generator.stream(MESSAGES, max_tokens=8))
    assert time.monotonic() - started < 5  # two retries' backoff, not a 30 s timeout
