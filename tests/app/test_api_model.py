"""``python -m app.api`` itself, with the real default local model, streaming a cited answer over SSE."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from askdocs.localserver import free_port, running_server
from bench.webapp import ROOT, app_environment
from tests.conftest import MODEL_CACHE
from tests.support.api_server import copy_index, events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "Which module provides the itemgetter() and attrgetter() functions used for sorting?"


def test_the_real_model_streams_a_cited_answer(tmp_path: Path, sample_index: Path) -> None:
    port = free_port()
    env = app_environment(
        copy_index(sample_index, tmp_path),
        MODEL_CACHE,
        {"ASKDOCS_REST_PORT": str(port), "ASKDOCS_MAX_ANSWER_TOKENS": "64"},
    )
    args = ["env", "-C", str(ROOT), *(f"{k}={v}" for k, v in env.items()), sys.executable, "-m", "app.api"]
    with running_server(args, port, tmp_path / "server.log", timeout_s=180):
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=60).json()
        assert health["status"] == "ok" and "qwen2.5-coder-0.5b-instruct" in health["generator"]["detail"]
        with httpx.stream(
            "POST", f"http://127.0.0.1:{port}/ask", json={"question": QUESTION}, timeout=600
        ) as r:
            assert r.status_code == 200
            r.read()
        stream = events(r)
    kinds = [kind for kind, _ in stream]
    assert (
        kinds[-1] == "answer" and set(kinds[:-1]) == {"token"} and len(kinds) > 3
    )  # streamed, not one piece
    answer = stream[-1][1]
    print(json.dumps({k: answer[k] for k in ("text", "citations", "timings")}, indent=1)[:3000])
    assert answer["backend"] == "local:pkg:qwen2.5-coder-0.5b-instruct"
    assert answer["abstained"] is False and "operator" in answer["text"].lower()
    assert answer["citations"], "a real answer about the sorting guide cites it"
    cited = answer["citations"][0]
    assert (
        cited["source"] == "python_sorting_howto.pdf" and 1 <= cited["page_start"] <= cited["page_end"] <= 4
    )
    assert answer["completion_tokens"] > 0 and answer["timings"]["first_token"] < answer["timings"]["total"]
