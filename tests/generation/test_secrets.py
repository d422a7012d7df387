"""The API key and the settings' secrets never reach an answer, an error, a log or a stored run."""

from __future__ import annotations

import logging
import traceback
import uuid

import pytest

from askdocs.localserver import free_port
from askdocs.settings import Settings
from eval.provenance import public_settings
from eval.runs import new_run, save_run
from generation.generators import GeneratorUnavailable, generator_from_settings
from generation.pipeline import AnswerPipeline
from tests.generation.test_pipeline import FixedRetriever

pytestmark = pytest.mark.unit

NOISY_LOGGERS = ("", "askdocs", "openai", "httpx", "httpcore")


@pytest.fixture
def canary() -> str:
    return f"sk-canary-{uuid.uuid4().hex}"


def api_settings(tmp_path, monkeypatch, key: str, base_url: str | None = None) -> Settings:
    monkeypatch.setenv("ASKDOCS_API_KEY", key)  # read from the environment, as in production
    base_url = base_url or f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings = Settings(
        data_dir=tmp_path / "data",
        generator_backend="openai",
        api_base_url=base_url,
        api_timeout_s=2,
        api_retries=1,
    )
    assert settings.api_key.get_secret_value() == key
    return settings


def everything_said(error: BaseException, caplog: pytest.LogCaptureFixture, settings: Settings) -> list[str]:
    """Every text a user or an operator could see after the failure."""
    files = [p.read_text(errors="replace") for p in settings.data_dir.rglob("*") if p.is_file()]
    banner = f"The API backend is not answering ({error}); this answer comes from the local model."  # app/views/ask.py
    return [str(error), repr(error), "".join(traceback.format_exception(error)), caplog.text, banner, *files]


def ask_dead_api(settings: Settings, caplog: pytest.LogCaptureFixture) -> GeneratorUnavailable:
    for name in NOISY_LOGGERS:  # the libraries' own debug logging too, in case someone turns it on
        caplog.set_level(logging.DEBUG, logger=name)
    pipeline = AnswerPipeline(FixedRetriever(0.8), generator_from_settings(settings), settings)
    with pytest.raises(GeneratorUnavailable) as failure:
        pipeline.ask("What does sort return?")
    return failure.value


def test_the_api_key_is_in_no_error_or_log_when_the_api_is_down(tmp_path, monkeypatch, caplog, canary):
    settings = api_settings(tmp_path, monkeypatch, canary)
    error = ask_dead_api(settings, caplog)
    assert caplog.records, "the failed attempts were logged: this test looks at real log text"
    for text in everything_said(error, caplog, settings):
        assert canary not in text


def test_credentials_in_the_api_url_are_in_no_error(tmp_path, monkeypatch, caplog, canary):
    settings = api_settings(
        tmp_path, monkeypatch, "not-needed", f"http://user:{canary}@127.0.0.1:{free_port()}/v1"
    )
    error = ask_dead_api(settings, caplog)
    for text in everything_said(error, caplog, settings):
        assert canary not in text


def test_settings_never_print_or_store_the_key(tmp_path, monkeypatch, canary):
    settings = api_settings(tmp_path, monkeypatch, canary)
    for text in (repr(settings), str(settings), f"{settings}", settings.model_dump_json()):
        assert canary not in text and "**********" in text  # SecretStr masks itself
    assert "api_key" not in public_settings(settings)
    run = new_run("answers", tmp_path / "run", settings, {"name": "x"})
    assert canary not in save_run(run, tmp_path / "run").read_text(encoding="utf-8")


def test_stored_runs_drop_credentials_inside_the_api_url(tmp_path, monkeypatch, canary):
    settings = api_settings(tmp_path, monkeypatch, "not-needed", f"http://user:{canary}@example.invalid/v1")
    run = new_run("answers", tmp_path / "run", settings, {"name": "x"})
    assert canary not in save_run(run, tmp_path / "run").read_text(encoding="utf-8")


def test_credentials_inside_the_api_url_are_not_in_the_settings_repr(tmp_path, monkeypatch, canary):
    settings = api_settings(tmp_path, monkeypatch, "not-needed", f"http://user:{canary}@example.invalid/v1")
    assert canary not in repr(settings)
