"""The REST API over HTTP: a real uvicorn server on loopback, real embedder, Chroma and BM25 on a tmp folder.

Only the generator is scripted (``tests/support/api_server.py``); ``test_api_model.py`` streams a real
model's answer through ``python -m app.api`` itself. The server holds the sample documents in the
default collection and a collection ``secret`` that only the group ``sales`` may read.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.api.keys import new_key
from askdocs.localserver import free_port, running_server
from bench.webapp import ROOT, app_environment
from ingest.pipeline import Ingestor
from retrieval.access import CollectionPolicy
from retrieval.factory import open_retrieval
from tests.conftest import MODEL_CACHE, make_settings
from tests.support.api_server import copy_index, events

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPLY = "Sorting with sorted() returns a new list [1]."
SECRET = "The launch code of project Bluebird is 7741-ALPHA."
SORT_QUESTION = "How do I sort a list of objects by an attribute with a key function?"


@dataclass(frozen=True)
class Api:
    url: str
    keys: dict[str, str]  # role -> key
    log: Path

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role else {}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, sample_index: Path, embedder) -> Iterator[Api]:  # noqa: ANN001
    folder = tmp_path_factory.mktemp("api")
    settings = make_settings(copy_index(sample_index, folder))
    stack = open_retrieval(settings, embedder=embedder)  # add the secret here, then hand the folder over
    try:
        ingestor = Ingestor(stack.store, stack.embedder, stack.bm25, settings)
        (folder / "bluebird.md").write_text(f"# Project Bluebird\n\n{SECRET}\n")
        ingestor.ingest_paths([folder / "bluebird.md"], collection="secret")
        stack.store.set_policy("secret", CollectionPolicy.restricted_to(groups=["sales"]))
    finally:
        stack.close()
    keys, lines = {}, []
    for role, user, groups, admin in [
        ("admin", "root", (), True),
        ("bob", "bob", ("sales",), False),
        ("carol", "carol", ("support",), False),
    ]:
        keys[role], record = new_key(user, groups, admin)
        lines.append(record.line())
    (folder / "keys.txt").write_text("# test keys\n" + "\n".join(lines) + "\n")
    port = free_port()
    env = app_environment(
        folder / "data",
        MODEL_CACHE,
        {
            "ASKDOCS_REST_KEYS_FILE": str(folder / "keys.txt"),
            "ASKDOCS_MAX_UPLOAD_MB": "1",
            "ASKDOCS_TEST_SCRIPTED_REPLY": REPLY,
            "ASKDOCS_FAST_GENERATOR_MODEL": "scripted-fast",
            "ASKDOCS_RATE_LIMIT_PER_MINUTE": "0",  # schemathesis asks many questions; the limit: test_api_limits.py
        },
    )
    args = [
        "env",
        "-C",
        str(ROOT),
        *(f"{k}={v}" for k, v in env.items()),
        sys.executable,
        "-m",
        "uvicorn",
        "tests.support.api_server:scripted_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with running_server(args, port, folder / "server.log", timeout_s=180):
        yield Api(f"http://127.0.0.1:{port}", keys, folder / "server.log")


def ask(api: Api, role: str | None = None, **body: object) -> httpx.Response:
    return httpx.post(f"{api.url}/ask", json=body, headers=api.headers(role), timeout=120)


def metric(api: Api, name: str, **labels: str) -> float:
    text = httpx.get(f"{api.url}/metrics", timeout=10).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name + (f"{{{wanted}}}" if wanted else "")) + r" (\S+)"
    match = re.search(f"^{pattern}$", text, re.M)
    return float(match.group(1)) if match else 0.0


# -- ask -------------------------------------------------------------------------------------------
def test_ask_streams_text_pieces_then_one_answer_with_cited_pages(api: Api) -> None:
    response = ask(api, question=SORT_QUESTION)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = events(response)
    kinds = [kind for kind, _ in stream]
    assert kinds == ["token"] * (len(kinds) - 1) + ["answer"] and len(kinds) > 2
    assert "".join(data["text"] for kind, data in stream if kind == "token") == REPLY + " "
    answer = stream[-1][1]
    assert answer["abstained"] is False
    assert answer["collection"] == "default"
    assert {"retrieve", "first_token", "total"} <= set(answer["timings"])
    citation = answer["citations"][0]
    assert citation["number"] == 1
    assert citation["source"] == "python_sorting_howto.pdf"  # the retriever's best source for this question
    assert 1 <= citation["page_start"] <= citation["page_end"]
    assert citation["snippet"] and citation["snippet"].replace("…", "")[:40] in " ".join(
        answer["sources"][0]["text"].split()
    )


def test_routing_answers_simple_questions_with_the_fast_model_and_names_the_tier(api: Api) -> None:
    simple = events(ask(api, question=SORT_QUESTION))[-1][1]
    hard = events(ask(api, question="What is the difference between list.sort() and sorted() when sorting?"))[
        -1
    ][1]
    assert (simple["tier"], simple["tier_reason"], simple["backend"]) == (
        "fast",
        "short factual question",
        "scripted-fast",
    )
    assert (hard["tier"], hard["tier_reason"], hard["backend"]) == ("strong", "comparison", "scripted")
    assert metric(api, "askdocs_tier_total", route="api", tier="strong") >= 1


def test_an_off_topic_question_abstains_and_is_counted(api: Api) -> None:
    before = metric(api, "askdocs_answers_total", outcome="abstained")
    stream = events(ask(api, question="What is the boiling point of tungsten in kelvin?"))
    assert [kind for kind, _ in stream] == ["token", "answer"]
    assert stream[-1][1]["abstained"] is True and stream[-1][1]["citations"] == []
    assert metric(api, "askdocs_answers_total", outcome="abstained") == before + 1


def test_a_generator_failing_mid_answer_ends_with_an_error_event_keeping_the_text_sent(api: Api) -> None:
    before = metric(api, "askdocs_errors_total", kind="generator")
    stream = events(ask(api, question=f"{SORT_QUESTION} BREAK_OFF"))
    kinds = [kind for kind, _ in stream]
    # The pipeline either raises mid-stream (then the error ends the stream) or, with issue 6's change,
    # keeps the cut-off answer (then it follows the error, marked incomplete). Never a silent cut.
    assert kinds in (["token"] * 3 + ["error"], ["token"] * 3 + ["error", "answer"])
    sent = "".join(data["text"] for kind, data in stream if kind == "token")
    error = stream[3][1]
    assert error["partial"] == sent == "Sorting with sorted() "
    assert "broke off" in error["message"] or "stopped responding" in error["message"]
    if kinds[-1] == "answer":
        assert stream[-1][1]["incomplete"] is True and stream[-1][1]["text"].startswith(
            "Sorting with sorted()"
        )
    assert metric(api, "askdocs_errors_total", kind="generator") == before + 1


def test_concurrent_questions_each_get_their_own_stream(api: Api) -> None:
    from concurrent.futures import ThreadPoolExecutor

    questions = [SORT_QUESTION, "What is a raft of otters?", "When should I not use SQLite?", SORT_QUESTION]
    with ThreadPoolExecutor(len(questions)) as pool:
        streams = list(pool.map(lambda q: events(ask(api, question=q)), questions))
    for question, stream in zip(questions, streams):
        assert stream[-1][0] == "answer"
        assert stream[-1][1]["query"] == question  # its own answer, not a neighbour's


@pytest.mark.parametrize(
    "body",
    [
        {"question": ""},
        {"question": "   "},
        {"question": "x", "collection": "../etc"},
        {"history": []},
        {"question": "x" * 5000},
    ],
)
def test_bad_ask_bodies_are_422(api: Api, body: dict) -> None:
    response = httpx.post(f"{api.url}/ask", json=body, timeout=30)
    assert response.status_code == 422, response.text


# -- who may read what --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "header", ["Bearer askd_00000000_" + "A" * 43, "Bearer nonsense", "Basic Ym9iOmJvYg==", ""]
)
def test_a_wrong_key_is_401_everywhere(api: Api, header: str) -> None:
    for method, path in [
        ("POST", "/ask"),
        ("GET", "/collections"),
        ("GET", "/collections/default/documents"),
    ]:
        response = httpx.request(
            method,
            f"{api.url}{path}",
            json={"question": "sorting?"},
            headers={"Authorization": header},
            timeout=30,
        )
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "askd_" not in response.text  # the key is never echoed


@pytest.mark.parametrize("role", [None, "carol"])
def test_a_restricted_collection_is_403_and_none_of_its_text_leaks(api: Api, role: str | None) -> None:
    response = ask(api, role, question="What is the launch code of project Bluebird?", collection="secret")
    assert response.status_code == 403
    assert "7741" not in response.text and "Bluebird is" not in response.text
    listing = httpx.get(f"{api.url}/collections/secret/documents", headers=api.headers(role), timeout=30)
    assert listing.status_code == 403 and "bluebird.md" not in listing.text
    names = [
        c["name"] for c in httpx.get(f"{api.url}/collections", headers=api.headers(role), timeout=30).json()
    ]
    assert names == ["default"]  # the restricted one is not even named
    # Asking the open collection with the secret's words finds nothing of it either.
    stream = events(ask(api, role, question="What is the launch code of project Bluebird 7741-ALPHA?"))
    assert "bluebird.md" not in json.dumps(stream) and SECRET not in json.dumps(stream)


def test_a_member_of_the_allowed_group_reads_the_restricted_collection(api: Api) -> None:
    response = ask(api, "bob", question="What is the launch code of project Bluebird?", collection="secret")
    assert response.status_code == 200
    answer = events(response)[-1][1]
    assert answer["sources"][0]["source"] == "bluebird.md" and "7741-ALPHA" in answer["sources"][0]["text"]
    names = [
        c["name"] for c in httpx.get(f"{api.url}/collections", headers=api.headers("bob"), timeout=30).json()
    ]
    assert names == ["default", "secret"]


# -- documents -----------------------------------------------------------------------------------
def upload(api: Api, role: str | None, name: str, data: bytes, collection: str = "default") -> httpx.Response:
    return httpx.post(
        f"{api.url}/collections/{collection}/documents",
        files={"file": (name, data)},
        headers=api.headers(role),
        timeout=120,
    )


def listing(api: Api, collection: str = "default") -> list[dict]:
    response = httpx.get(
        f"{api.url}/collections/{collection}/documents", headers=api.headers("admin"), timeout=30
    )
    assert response.status_code == 200
    return response.json()


def test_upload_and_delete_need_an_admin_key(api: Api) -> None:
    assert upload(api, None, "notes.md", b"# Notes\n\nHello.").status_code == 401
    assert upload(api, "bob", "notes.md", b"# Notes\n\nHello.").status_code == 403
    assert (
        httpx.delete(f"{api.url}/collections/default/documents/zstd_README.md", timeout=30).status_code == 401
    )
    deleted = httpx.delete(
        f"{api.url}/collections/default/documents/zstd_README.md", headers=api.headers("bob"), timeout=30
    )
    assert deleted.status_code == 403
    assert "zstd_README.md" in [d["source"] for d in listing(api)]


def test_an_admin_uploads_lists_asks_and_deletes_a_document(api: Api) -> None:
    text = b"# Otter facts\n\nA group of otters resting in the water is called a raft.\n"
    created = upload(api, "admin", "otters.md", text, "animals")
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "ingested" and created.json()["chunks"] >= 1
    assert upload(api, "admin", "otters.md", text, "animals").json()["status"] == "unchanged"
    assert [d["source"] for d in listing(api, "animals")] == ["otters.md"]
    answer = events(
        ask(api, question="What is a group of otters resting in the water called?", collection="animals")
    )[-1][1]
    assert answer["sources"][0]["source"] == "otters.md"  # searchable at once: BM25 and vectors both updated
    deleted = httpx.delete(
        f"{api.url}/collections/animals/documents/otters.md", headers=api.headers("admin"), timeout=60
    )
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert listing(api, "animals") == []
    again = httpx.delete(
        f"{api.url}/collections/animals/documents/otters.md", headers=api.headers("admin"), timeout=60
    )
    assert again.status_code == 404


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("report.txt", "not a pdf")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name,data,status,reason",
    [
        ("report.pdf", _zip_bytes(), 422, "zip"),
        ("empty.txt", b"", 422, "empty file"),
        ("big.txt", b"word " * (300 * 1024), 413, "too large"),  # 1.5 MB, the test server's limit is 1 MB
        ("huge.txt", b"x" * (3 * 2**20), 413, ""),  # beyond the body limit: refused before it is read
    ],
)
def test_refused_uploads_are_4xx_with_the_reason_and_leave_the_index_intact(
    api: Api, name: str, data: bytes, status: int, reason: str
) -> None:
    before = listing(api)
    chunks = sum(d["chunks"] for d in before)
    response = upload(api, "admin", name, data)
    assert response.status_code == status, response.text
    assert reason.lower() in response.json()["detail"].lower()
    assert listing(api) == before and sum(d["chunks"] for d in listing(api)) == chunks
    assert events(ask(api, question=SORT_QUESTION))[-1][1]["citations"]  # still answers from the same index


# -- service ---------------------------------------------------------------------------------------
def test_health_reports_each_part(api: Api) -> None:
    response = httpx.get(f"{api.url}/health", timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"]["ok"] and body["bm25"]["ok"] and body["embedder"]["ok"]
    assert body["embedder"]["detail"] == "384-d vectors"
    assert "secret" not in json.dumps(body)  # no collection names for anonymous callers


def test_metrics_count_requests_by_route_and_status_and_time_answers(api: Api) -> None:
    labels = {"route": "/collections/{collection}/documents", "method": "GET", "status": "403"}
    before = metric(api, "askdocs_http_requests_total", **labels)
    asked = metric(api, "askdocs_ask_seconds_count")
    httpx.get(f"{api.url}/collections/secret/documents", timeout=30)
    ask(api, question=SORT_QUESTION)
    assert metric(api, "askdocs_http_requests_total", **labels) == before + 1
    assert metric(api, "askdocs_ask_seconds_count") == asked + 1
    text = httpx.get(f"{api.url}/metrics", timeout=10)
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE askdocs_ask_seconds histogram" in text.text


def test_a_repeated_question_is_cached_and_metrics_count_cache_tokens_cost_and_stages(api: Api) -> None:
    from app.monitoring import Recorder

    question = "Which function turns an old-style comparison function into a key function?"
    hits = metric(api, "askdocs_cache_total", route="api", result="hit")
    tokens_in = metric(api, "askdocs_tokens_total", route="api", direction="in")
    first = events(ask(api, question=question))[-1][1]
    second = events(ask(api, "bob", question=question + " "))  # another caller, the same open collection
    assert first["cached"] is False and second[-1][1]["cached"] is True
    assert [kind for kind, _ in second] == ["token", "answer"]  # the whole text at once
    assert second[-1][1]["text"] == first["text"] and second[-1][1]["citations"] == first["citations"]
    assert second[-1][1]["prompt_tokens"] == 0
    assert metric(api, "askdocs_cache_total", route="api", result="hit") == hits + 1
    assert (
        metric(api, "askdocs_tokens_total", route="api", direction="in")
        == tokens_in + first["prompt_tokens"]
        > 0
    )
    assert metric(api, "askdocs_stage_seconds_count", route="api", stage="retrieve") >= 1
    assert (
        metric(api, "askdocs_cost_usd_total", route="api") == 0
    )  # a local (here scripted) model costs nothing
    # The UI process appends to the same store; /metrics shows its records as gauges.
    Recorder(api.log.parent / "data" / "monitor.sqlite3").record_error("ui", "default", "index", 0.1)
    assert metric(api, "askdocs_recorded_requests", route="ui", outcome="error", cache="skip") >= 1
    assert metric(api, "askdocs_recorded_requests", route="api", outcome="answered", cache="hit") >= 1


def test_the_openapi_schema_describes_every_endpoint_and_body(api: Api) -> None:
    schema = httpx.get(f"{api.url}/openapi.json", timeout=10).json()
    paths = schema["paths"]
    assert set(paths) == {
        "/ask",
        "/collections",
        "/collections/{collection}/documents",
        "/collections/{collection}/documents/{document}",
        "/health",
        "/metrics",
    }
    ask_body = paths["/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ask_body.endswith("/AskRequest")
    assert set(schema["components"]["schemas"]["AskRequest"]["properties"]) == {
        "question",
        "collection",
        "history",
        "doc_ids",
    }
    assert "text/event-stream" in paths["/ask"]["post"]["responses"]["200"]["content"]
    upload_body = paths["/collections/{collection}/documents"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body
    assert set(paths["/collections/{collection}/documents/{document}"]) == {"delete"}
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    # Each event of the stream is described, with its JSON data's own schema.
    stream = paths["/ask"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]["oneOf"]
    described = {
        e["properties"]["event"]["const"]: e["properties"]["data"]["contentSchema"]["$ref"] for e in stream
    }
    assert described == {
        "token": "#/components/schemas/TokenEvent",
        "answer": "#/components/schemas/AnswerEvent",
        "error": "#/components/schemas/ErrorEvent",
    }
    assert {"TokenEvent", "AnswerEvent", "ErrorEvent", "CitationOut"} <= set(schema["components"]["schemas"])


def test_the_server_log_holds_no_keys_and_no_tracebacks(api: Api) -> None:
    text = api.log.read_text()
    assert all(key not in text for key in api.keys.values())
    assert "Traceback" not in text


# -- fuzzing against our own schema ---------------------------------------------------------------
FUZZ_EXAMPLES = 8  # per operation, caller and mode: ~100 requests, ~20 s with the scripted model


# Last in this file on purpose: as admin it uploads random files into random collections of this server.


def test_schemathesis_finds_no_server_error_and_responses_match_the_schema(api: Api) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7  # ask, collections, list/upload/delete documents, health, metrics
    runs = [
        (None, schemathesis.GenerationMode.POSITIVE),
        (None, schemathesis.GenerationMode.NEGATIVE),
        ("admin", schemathesis.GenerationMode.POSITIVE),
    ]
    calls = []
    for operation in operations:
        for role, mode in runs:

            @settings(
                max_examples=FUZZ_EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call_and_validate(
                    base_url=api.url,
                    headers=api.headers(role),
                    timeout=120,
                    checks=[not_a_server_error, response_schema_conformance],
                )
                calls.append(response.status_code)

            try:
                fuzz()
            except Unsatisfiable:  # no input to break: GET /health and /metrics take no parameters
                assert mode == schemathesis.GenerationMode.NEGATIVE and operation.path in (
                    "/health",
                    "/metrics",
                )
    assert len(calls) >= 60 and max(calls) < 500


def test_the_api_module_does_not_load_streamlit_or_models_on_import() -> None:
    import subprocess

    code = "import sys, app.api; print('streamlit' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
