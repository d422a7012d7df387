"""The Prometheus text format we render, checked line by line."""

from __future__ import annotations

import threading

import pytest

from app.metrics import Registry

pytestmark = pytest.mark.unit


def test_counters_render_one_line_per_label_set_with_escaped_values() -> None:
    registry = Registry()
    requests = registry.counter("http_requests_total", "Requests.", ("route", "status"))
    requests.inc(route="/ask", status="200")
    requests.inc(2, route="/ask", status="200")
    requests.inc(route='/a"b\\c\nd', status="404")
    lines = registry.render().splitlines()
    assert lines[:2] == ["# HELP http_requests_total Requests.", "# TYPE http_requests_total counter"]
    assert 'http_requests_total{route="/ask",status="200"} 3' in lines
    assert 'http_requests_total{route="/a\\"b\\\\c\\nd",status="404"} 1' in lines
    assert requests.value(route="/ask", status="200") == 3


def test_a_counter_refuses_to_go_down_or_take_other_labels() -> None:
    counter = Registry().counter("errors_total", "Errors.", ("kind",))
    with pytest.raises(ValueError):
        counter.inc(-1, kind="x")
    with pytest.raises(ValueError):
        counter.inc(kinds="x")


def test_histogram_buckets_are_cumulative_and_a_value_on_a_bound_counts_in_it() -> None:
    registry = Registry()
    latency = registry.histogram("ask_seconds", "Latency.", buckets=(0.5, 1.0, 2.0))
    for value in (0.1, 0.5, 0.7, 3.0):
        latency.observe(value)
    text = registry.render()
    assert 'ask_seconds_bucket{le="0.5"} 2' in text
    assert 'ask_seconds_bucket{le="1"} 3' in text
    assert 'ask_seconds_bucket{le="2"} 3' in text
    assert 'ask_seconds_bucket{le="+Inf"} 4' in text
    assert "ask_seconds_sum 4.3" in text and "ask_seconds_count 4" in text
    assert latency.count() == 4


def test_names_are_registered_once_and_buckets_must_increase() -> None:
    registry = Registry()
    registry.counter("a_total", "A.")
    with pytest.raises(ValueError):
        registry.counter("a_total", "A again.")
    with pytest.raises(ValueError):
        registry.histogram("h", "H.", buckets=(1.0, 0.5))


def test_concurrent_increments_are_not_lost() -> None:
    counter = Registry().counter("n_total", "N.")

    def bump() -> None:
        for _ in range(10_000):
            counter.inc()

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.value() == 40_000
