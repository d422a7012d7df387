"""Ten browser sessions asking at once against one app process (the CI-sized run of ``bench.load``).

Each session asks one question (the long run, ``python -m bench.load``, keeps them asking for
minutes). With one generator behind a lock the answers queue; what must hold is that every
session gets its own answer, sees nothing of the others, no error appears on a page or in the
server log, and the server's memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import load, webapp
from tests.conftest import MODEL_CACHE, SAMPLE_DOCS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if not load.CHROMIUM.exists():
    pytest.skip(f"{load.CHROMIUM} is missing (`make test` installs it)", allow_module_level=True)
pytest.importorskip("playwright.async_api")

SESSIONS = 10
MAX_RSS_MB = 6 * 1024  # embedder + 0.5B generator + Streamlit is ~2.5 GB; far above means a leak


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webapp.RunningApp]:
    folder = tmp_path_factory.mktemp("load-app")
    environment = webapp.app_environment(folder / "data", MODEL_CACHE, {"ASKDOCS_MAX_ANSWER_TOKENS": "48"})
    webapp.index_folder(SAMPLE_DOCS, environment)
    with webapp.streamlit_app(environment, folder / "server.log") as running:
        yield running


def test_ten_sessions_at_once_each_get_their_own_answer_and_nothing_breaks(app: webapp.RunningApp) -> None:
    report = load.run_load(app, sessions=SESSIONS, seconds=1, timeout_s=900)
    summary = report.summary()
    print(summary)  # the CI log keeps the numbers (pytest -ra shows them on failure)

    assert [t for t in report.turns if t.error] == []
    assert sorted(t.session for t in report.turns) == list(range(1, SESSIONS + 1))
    assert all(t.first_text_s is not None and 0 < t.first_text_s <= t.total_s for t in report.turns)
    assert report.leaks == ()
    assert report.page_errors == ()
    assert report.log_errors == ()
    assert report.rss_mb and max(report.rss_mb) < MAX_RSS_MB
    assert app.process.poll() is None  # still serving


def test_the_leak_check_sees_another_sessions_tag() -> None:
    """The check the load test relies on, shown to fail when a session shows a foreign question."""
    text = "What does list.sort() return? [ref S03Q01] … [ref S05Q02]"
    assert {int(s) for s in load.TAG.findall(text)} - {3} == {5}


def test_the_summary_reports_percentiles_and_memory_growth() -> None:
    turns = tuple(
        load.TurnResult(i, f"q{i}", first_text_s=float(i), total_s=float(i) + 1) for i in range(1, 11)
    )
    report = load.LoadReport(10, 120.0, turns, (), (), (), rss_mb=(1000.0, 1100.0, 1200.0, 1300.0))
    summary = report.summary()
    assert summary["ttft p50 s"] == 5.5
    assert summary["questions answered"] == 10
    assert summary["answers per minute"] == 5.0
    assert summary["rss growth first->last quarter MB"] == 300
    assert summary["rss peak MB"] == 1300


def test_sample_questions_are_read_from_the_sample_set() -> None:
    questions = load.sample_questions()
    assert len(questions) == len(Path(load.QUESTIONS).read_text().strip().splitlines())
    assert all(q.endswith("?") for q in questions)
