"""compose.yaml's layout, run for real on loopback: moving off the embedded defaults is a settings change.

One real ``chroma run`` (its own, so no other test's collections share it), llama.cpp's real
OpenAI-compatible server (SmolLM2, standing in for vLLM), and the samples ingested by ``python -m ingest``
in server mode, configured by environment variables only. Then three replicas on one data folder, as
compose runs them: the REST API (``python -m app.api``), the web app (``python -m app``), and a second API
started through the image's entrypoint (``docker/entrypoint.sh api``). Each is probed with the image's
healthcheck script at the path compose.yaml's healthcheck uses. A document uploaded through the first API
is then found by the second through BM25 alone: the second replica reloads the versioned BM25 files the
first one published to the shared folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.keys import new_key
from askdocs.localserver import free_port, running_server
from bench.webapp import app_environment, index_folder, streamlit_app
from tests.conftest import MODEL_CACHE, SAMPLE_DOCS
from tests.test_compose import SERVICES, health_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
SORT_QUESTION = "Which module provides the itemgetter() and attrgetter() functions used for sorting?"
NEW_DOC = "zorblax_manual.md"
NEW_QUESTION = "At what temperature is the zorblax frobnicator calibrated?"
NEW_TEXT = (
    "# The zorblax frobnicator\n\nThe zorblax frobnicator is calibrated at 42 kelvin before every quarkle run. "
    "Calibrating the frobnicator at any other temperature voids the quarkle warranty.\n"
)


def healthy(url: str) -> bool:
    """The image's healthcheck script, exactly as compose runs it."""
    return subprocess.run([sys.executable, str(HEALTHCHECK), url], timeout=30).returncode == 0


@contextmanager
def api_replica(command: list[str], environment: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    env = {**environment, "ASKDOCS_REST_HOST": "127.0.0.1", "ASKDOCS_REST_PORT": str(port)}
    args = ["env", "-C", str(ROOT), *(f"{k}={v}" for k, v in env.items()), *command]
    with running_server(args, port, log, timeout_s=180):
        yield f"http://127.0.0.1:{port}"


def enter_together(stack: ExitStack, managers: list[AbstractContextManager]) -> list[Any]:
    """Enter ``managers`` in parallel threads (the replicas start at once, as compose starts them); each
    one entered is exited with ``stack``, also when another failed to start."""
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(lambda m: (m, m.__enter__()), manager) for manager in managers]
    values, errors = [], []
    for future in futures:
        try:
            manager, value = future.result()
        except Exception as error:
            errors.append(error)
            continue
        stack.push(manager)
        values.append(value)
    if errors:
        raise errors[0]
    return values


def ask(url: str, question: str) -> list[tuple[str, dict]]:
    """POST /ask and the server-sent events it streams, as (event, data) pairs."""
    with httpx.stream("POST", f"{url}/ask", json={"question": question}, timeout=180) as response:
        assert response.status_code == 200, response.read()
        events, kind = [], None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


def test_app_and_two_api_replicas_share_a_chroma_server_and_the_bm25_files(tmp_path, llama_server):
    chroma_port = free_port()
    data = tmp_path / "data"  # the shared volume: BM25 files, API keys (the model cache is shared as well)
    admin_key, record = new_key("root", admin=True)
    data.mkdir()
    (data / "api_keys.txt").write_text(record.line() + "\n")
    # compose.yaml's replica settings, with loopback addresses for the service names.
    settings = {
        "ASKDOCS_CHROMA_MODE": "server",
        "ASKDOCS_CHROMA_HOST": "127.0.0.1",
        "ASKDOCS_CHROMA_PORT": str(chroma_port),
        "ASKDOCS_GENERATOR_BACKEND": "openai",
        "ASKDOCS_API_BASE_URL": llama_server,
        "ASKDOCS_API_MODEL": "smollm2",
        "ASKDOCS_MAX_ANSWER_TOKENS": "40",
    }
    assert set(settings) <= set(SERVICES["api"]["environment"]) | {"ASKDOCS_MAX_ANSWER_TOKENS"}
    env = app_environment(data, MODEL_CACHE, settings)
    chroma = Path(sys.executable).with_name("chroma")

    with ExitStack() as running:
        running.enter_context(
            running_server(
                [
                    str(chroma),
                    "run",
                    "--path",
                    str(tmp_path / "chroma"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(chroma_port),
                ],
                chroma_port,
                tmp_path / "chroma.log",
            )
        )
        assert healthy(f"http://127.0.0.1:{chroma_port}{health_path('chroma')}")

        indexed = index_folder(SAMPLE_DOCS, env)  # compose's one-shot `index` service
        assert f"summary: {len(list(SAMPLE_DOCS.iterdir()))} ingested," in indexed, indexed
        assert not (data / "chroma").exists(), "server mode must not create an embedded store"

        # The second replica reads BM25 only (dense off), so it can find the new document through BM25 alone.
        second_env = {
            **env,
            "ASKDOCS_DENSE_WEIGHT": "0",
            "INDEX_SAMPLES": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        first, web, second = enter_together(
            running,
            [
                api_replica([sys.executable, "-m", "app.api"], env, tmp_path / "api1.log"),
                streamlit_app(env, tmp_path / "web.log"),
                api_replica(
                    ["sh", str(ROOT / "docker" / "entrypoint.sh"), "api"], second_env, tmp_path / "api2.log"
                ),
            ],
        )

        for url in (
            f"{first}{health_path('api')}",
            f"{second}{health_path('api')}",
            f"{web.url}{health_path('web')}",
        ):
            assert healthy(url), url
        health = httpx.get(f"{first}/health", timeout=60).json()
        assert health["status"] == "ok" and health["generator"]["detail"].startswith("openai: smollm2")

        # The second replica loads BM25 version 1 (the samples) and finds nothing about the zorblax.
        before = ask(second, NEW_QUESTION)[-1]
        assert before[0] == "answer" and NEW_DOC not in {s["source"] for s in before[1]["sources"]}

        # An answer through the first replica, generated by the OpenAI-compatible server.
        events = ask(first, SORT_QUESTION)
        kind, answer = events[-1]
        assert kind == "answer" and not answer["abstained"], events[-3:]
        assert answer["backend"] == f"api:smollm2@{llama_server}"
        assert [k for k, _ in events].count("token") >= 2 and answer["completion_tokens"] > 0
        assert answer["sources"][0]["source"] == "python_sorting_howto.pdf"

        # Upload through the first replica: it writes Chroma and publishes BM25 version 2 to the shared folder.
        uploaded = httpx.post(
            f"{first}/collections/default/documents",
            files={"file": (NEW_DOC, NEW_TEXT.encode())},
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=180,
        )
        assert uploaded.status_code == 201, uploaded.text
        assert (data / "bm25" / "default" / "CURRENT").read_text().strip() == "2"

        after = ask(second, NEW_QUESTION)[-1][1]
        assert after["sources"] and after["sources"][0]["source"] == NEW_DOC, after["sources"]
        assert httpx.get(f"{second}/health", timeout=60).json()["bm25"]["ok"] is True
        listed = httpx.get(f"{second}/collections/default/documents", timeout=30).json()
        assert NEW_DOC in {d["source"] for d in listed}
        assert healthy(f"{web.url}{health_path('web')}")  # the web replica kept serving throughout
