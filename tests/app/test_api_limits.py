"""The REST API's rate limit and its answer when the document index is unreachable.

In process (Starlette's test client on the ASGI app), with a real embedded store on a tmp folder and a
scripted generator: both answers are decided before any retrieval, so a server per test would add
nothing but start-up time. The API's HTTP behaviour as a whole is tested on a real server in test_api.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.api import ApiParts, create_app
from app.api.keys import KeyRing
from askdocs.runtime import Runtime
from retrieval.stores import StoreUnavailable
from tests.conftest import make_settings
from tests.support.generators import ScriptedGenerator

pytestmark = pytest.mark.integration


@pytest.fixture
def client(tmp_path, embedder) -> Iterator[tuple[TestClient, ApiParts]]:  # noqa: ANN001 - conftest's embedder
    settings = make_settings(tmp_path / "data", rate_limit_per_minute=2)
    runtime = Runtime(settings, embedder=embedder)
    generator = ScriptedGenerator("It returns None [1].")
    parts = ApiParts(runtime, KeyRing(), lambda: generator)
    try:
        with TestClient(create_app(parts)) as test_client:
            yield test_client, parts
    finally:
        runtime.close()


def test_a_caller_over_the_rate_limit_gets_429_with_retry_after_and_no_model_call(client) -> None:
    http, parts = client
    generator = parts.generator()
    for _ in range(2):
        assert http.post("/ask", json={"question": "What does sort return?"}).status_code == 200
    asked = len(generator.prompts)
    refused = http.post("/ask", json={"question": "What does sort return?"})
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("You've asked 2 questions in the last minute; please wait")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert len(generator.prompts) == asked
    assert 'askdocs_errors_total{kind="rate_limited"} 1' in http.get("/metrics").text


def test_an_unreachable_index_is_503_not_a_server_error(client, monkeypatch) -> None:
    http, parts = client

    def down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("the document index (Chroma server at 127.0.0.1:8001) is unreachable")

    monkeypatch.setattr(parts.runtime.store, "collections", down)
    monkeypatch.setattr(parts.runtime.retriever, "retrieve", down)
    for response in (
        http.get("/collections"),
        http.post("/ask", json={"question": "What does sort return?"}),
    ):
        assert response.status_code == 503, response.text
        assert "unreachable" in response.json()["detail"]
        assert response.headers["Retry-After"] == "5"
