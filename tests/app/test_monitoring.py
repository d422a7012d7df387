"""The monitoring recorder (SQLite under a tmp folder), its cost table, retention and metrics, and the page's numbers."""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import replace

import pytest

from app import monitor_stats
from app.monitor_records import RequestRecord, cost
from app.monitoring import Recorder
from askdocs.types import Answer

pytestmark = pytest.mark.unit

PRICES = {"gpt-4o-mini": (0.15, 0.60)}


def answer(**kwargs) -> Answer:  # noqa: ANN003
    base = Answer(
        "What is scrypt? alice@example.com",
        "q",
        "A KDF [1].",
        (),
        (),
        False,
        timings={
            "retrieve": 0.2,
            "retrieve_rerank": 0.05,
            "cache_lookup": 0.01,
            "first_token": 1.5,
            "total": 3.0,
        },
        prompt_tokens=1000,
        completion_tokens=200,
        backend="api:gpt-4o-mini@http://127.0.0.1:8000/v1",
    )
    return replace(base, **kwargs)


@pytest.fixture
def recorder(tmp_path) -> Recorder:
    return Recorder(tmp_path / "data" / "monitor.sqlite3", retention_days=30, max_records=1000, prices=PRICES)


def test_an_answer_is_recorded_with_timings_tokens_cost_and_no_question_text(recorder):
    recorder.record_answer(answer(), "api", "default")
    [record] = recorder.records()
    assert (record.route, record.collection, record.outcome, record.cache) == (
        "api",
        "default",
        "answered",
        "miss",
    )
    assert (record.retrieve_s, record.rerank_s, record.first_token_s, record.total_s) == (0.2, 0.05, 1.5, 3.0)
    assert (record.prompt_tokens, record.completion_tokens) == (1000, 200)
    assert record.cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6) and record.priced
    assert record.question is None
    assert "alice@example.com" not in recorder.path.read_bytes().decode("latin-1")


def test_the_question_is_stored_only_when_the_setting_asks(tmp_path):
    recorder = Recorder(tmp_path / "m.sqlite3", store_questions=True)
    recorder.record_answer(answer(), "ui", "default")
    assert recorder.records()[0].question == "What is scrypt? alice@example.com"


def test_outcomes_and_cache_results_are_told_apart(recorder):
    recorder.record_answer(
        answer(
            cached=True, prompt_tokens=0, completion_tokens=0, timings={"cache_lookup": 0.02, "total": 0.02}
        ),
        "ui",
        "default",
    )
    recorder.record_answer(
        answer(timings={"total": 1.0}), "ui", "default"
    )  # no lookup: cache off or follow-up
    recorder.record_answer(answer(incomplete=True, incomplete_reason="cut"), "ui", "default")
    recorder.record_answer(answer(abstained=True), "ui", "default")
    recorder.record_answer(answer(), "ui", "default", stopped=True)
    recorder.record_error("api", "default", "generator", 0.5)
    records = recorder.records()
    assert [(r.outcome, r.cache, r.error) for r in records] == [
        ("answered", "hit", ""),
        ("answered", "skip", ""),
        ("incomplete", "miss", "generator"),
        ("abstained", "miss", ""),
        ("stopped", "miss", ""),
        ("error", "skip", "generator"),
    ]
    assert (
        records[0].cost_usd == 0 and records[0].first_token_s == 0.02
    )  # a hit spends nothing, shows at once
    assert recorder.cache.value(route="ui", result="hit") == 1
    assert recorder.errors.value(route="api", kind="generator") == 1


def test_the_cost_table_prices_api_models_only():
    assert cost("local:pkg:qwen", 1000, 1000, PRICES) == (0.0, True)
    assert cost("api:gpt-4o-mini@http://h/v1", 1_000_000, 0, PRICES) == (pytest.approx(0.15), True)
    assert cost("api:unknown-model@http://h/v1", 10, 10, PRICES) == (0.0, False)
    assert cost("api:unknown-model@http://h/v1", 0, 0, PRICES) == (0.0, True)  # a cached answer spent nothing


def test_an_unpriced_api_model_is_counted(recorder):
    recorder.record_answer(answer(backend="api:mystery@http://h/v1"), "api", "default")
    assert not recorder.records()[0].priced and recorder.unpriced.value(route="api") == 1


def test_retention_drops_old_records_and_bounds_the_count(tmp_path):
    recorder = Recorder(tmp_path / "m.sqlite3", retention_days=1, max_records=100)
    old = RequestRecord(
        time.time() - 3 * 86400,
        "ui",
        "default",
        "answered",
        "miss",
        "local:x",
        1.0,
        0.1,
        None,
        0.5,
        10,
        5,
        0.0,
        True,
    )
    recorder.add(old)
    for _ in range(150):
        recorder.add(replace(old, at=time.time()))
    recorder.prune()
    kept = recorder.records()
    assert len(kept) == 100 and min(r.at for r in kept) > time.time() - 86400


def test_two_recorders_on_one_file_append_from_many_threads(tmp_path):
    path = tmp_path / "m.sqlite3"
    first, second = Recorder(path), Recorder(path)  # as the UI and the API processes do

    def work(recorder: Recorder) -> None:
        for _ in range(25):
            recorder.record_answer(answer(), "ui" if recorder is first else "api", "default")

    threads = [threading.Thread(target=work, args=(r,)) for r in (first, second) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = first.records()
    assert len(records) == 200 and {r.route for r in records} == {"ui", "api"}
    assert first.write_errors.value() == second.write_errors.value() == 0


def test_a_write_that_fails_is_counted_not_raised(tmp_path):
    recorder = Recorder(tmp_path / "m.sqlite3")
    recorder.path.unlink()
    recorder.path.mkdir()  # the file became a folder: every write fails
    recorder.record_answer(answer(), "ui", "default")
    assert recorder.write_errors.value() == 1
    assert recorder.requests.value(route="ui", outcome="answered") == 1  # the live counters still count


def test_metrics_render_live_counters_and_store_gauges(recorder):
    recorder.record_answer(answer(), "api", "default")
    other_process = Recorder(recorder.path, prices=PRICES)
    other_process.record_answer(answer(cached=True, prompt_tokens=0, completion_tokens=0), "ui", "default")
    live = recorder.registry.render()
    assert 'askdocs_tokens_total{route="api",direction="in"} 1000' in live
    assert re.search(r'^askdocs_stage_seconds_count\{route="api",stage="first_token"\} 1$', live, re.M)
    assert 'askdocs_cache_total{route="api",result="miss"} 1' in live
    stored = recorder.store_metrics()
    assert "# TYPE askdocs_recorded_requests gauge" in stored
    assert 'askdocs_recorded_requests{route="ui",outcome="answered",cache="hit"} 1' in stored
    assert 'askdocs_recorded_tokens{route="api",direction="in"} 1000' in stored


# -- the Monitor page's numbers ---------------------------------------------------------------------
def test_latency_percentiles_rates_and_usage_per_bucket():
    day = 86400 * 20000  # a fixed UTC midnight
    base = RequestRecord(
        day + 3600, "ui", "default", "answered", "miss", "local:x", 1.0, 0.1, None, 0.5, 100, 10, 0.0, True
    )
    records = [replace(base, total_s=float(s)) for s in range(1, 101)]  # 1..100 s in one hour
    records += [
        replace(base, outcome="error", cache="skip", total_s=999.0),
        replace(base, cache="hit", total_s=0.01, prompt_tokens=0, completion_tokens=0),
        replace(base, at=day + 86400 + 60, cost_usd=0.25),
    ]
    table = monitor_stats.frame(records)
    latency = monitor_stats.latency(table, "h")
    first = latency.iloc[0]
    assert first["p50"] == pytest.approx(50.0, abs=1.0) and first["p99"] == pytest.approx(99.0, abs=1.1)
    assert latency["p99"].max() < 999  # errors have no latency
    rates = monitor_stats.rates(table, "D")
    assert rates["error rate"].iloc[0] == pytest.approx(1 / 102)
    assert rates["cache hit rate"].iloc[0] == pytest.approx(1 / 101)  # the error was no lookup
    usage = monitor_stats.usage(table)
    assert list(usage["tokens in"]) == [100 * 100 + 100, 100] and list(usage["cost (USD)"]) == [0.0, 0.25]
    totals = monitor_stats.totals(table)
    assert totals["questions"] == 103 and totals["cost USD"] == 0.25
    assert math.isnan(monitor_stats.totals(monitor_stats.frame([]))["p95 s"])


def test_the_price_table_comes_from_the_environment_and_refuses_negative_prices(tmp_path, monkeypatch):
    from pydantic import ValidationError

    from tests.conftest import make_settings

    monkeypatch.setenv("ASKDOCS_MODEL_PRICES", '{"gpt-4o-mini": [0.15, 0.6]}')
    recorder = Recorder.from_settings(make_settings(tmp_path))
    assert recorder.prices == PRICES and recorder.path == tmp_path / "monitor.sqlite3"
    monkeypatch.setenv("ASKDOCS_MODEL_PRICES", '{"gpt-4o-mini": [-1, 0.6]}')
    with pytest.raises(ValidationError, match="cannot be negative"):
        make_settings(tmp_path)


# -- routing tiers ----------------------------------------------------------------------------------
def test_the_routing_tier_is_recorded_counted_and_charted(recorder):
    recorder.record_answer(
        answer(tier="fast", tier_reason="short factual question", timings={"total": 1.0}), "ui", "default"
    )
    recorder.record_answer(
        answer(tier="strong", tier_reason="comparison", timings={"total": 9.0}), "api", "default"
    )
    recorder.record_answer(answer(tier="fast", cached=True, timings={"total": 0.01}), "ui", "default")
    recorder.record_answer(answer(timings={"total": 2.0}), "ui", "default")  # routing off
    assert [r.tier for r in recorder.records()] == ["fast", "strong", "cache", ""]
    assert (
        recorder.tiers.value(route="ui", tier="fast") == 1
        and recorder.tiers.value(route="ui", tier="cache") == 1
    )
    assert 'askdocs_recorded_tiers{route="api",tier="strong"} 1' in recorder.store_metrics()
    by_tier = monitor_stats.tiers(monitor_stats.frame(recorder.records()))
    assert list(by_tier.index) == ["cache", "fast", "strong"]
    assert list(by_tier["answers"]) == [1, 1, 1] and by_tier.loc["strong", "p50 total s"] == 9.0
    assert monitor_stats.tiers(monitor_stats.frame([])).empty


def test_a_file_from_before_routing_gains_the_tier_column_and_keeps_its_records(tmp_path):
    import sqlite3

    path, recent = tmp_path / "monitor.sqlite3", time.time() - 60
    old_columns = [c for c in RequestRecord.__dataclass_fields__ if c != "tier"]
    with sqlite3.connect(path) as connection:
        connection.execute(
            f"CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT, {', '.join(old_columns)})"
        )
        connection.execute(
            f"INSERT INTO requests ({', '.join(old_columns)}) VALUES ({', '.join('?' * len(old_columns))})",
            (
                recent,
                "ui",
                "default",
                "answered",
                "miss",
                "local:x",
                1.0,
                None,
                None,
                None,
                1,
                1,
                0.0,
                True,
                "",
                None,
            ),
        )
    connection.close()
    recorder = Recorder(path)
    recorder.record_answer(answer(tier="fast"), "ui", "default")
    assert [(r.at, r.tier) for r in recorder.records()] == [
        (recent, ""),
        (pytest.approx(time.time(), abs=60), "fast"),
    ]
