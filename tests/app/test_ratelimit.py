"""The per-user rate limiter, on an injected clock."""

from __future__ import annotations

import threading

import pytest

from app.ratelimit import RateLimiter, limit_key
from askdocs.types import Principal

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_n_plus_first_question_in_a_minute_is_refused_with_the_wait():
    clock = Clock()
    limiter = RateLimiter(3, clock)
    for second in (0, 10, 20):
        clock.now = 1000.0 + second
        assert limiter.check("ann").allowed
    clock.now = 1030.0
    refused = limiter.check("ann")
    assert not refused.allowed and refused.recent == 3
    assert refused.retry_after_s == pytest.approx(30.0)  # the first question leaves the window at 1060
    assert refused.message == (
        "You've asked 3 questions in the last minute; please wait 30 seconds before asking again."
    )


def test_the_window_slides_and_refusals_do_not_count():
    clock = Clock()
    limiter = RateLimiter(2, clock)
    assert limiter.check("ann").allowed  # t=1000
    clock.now = 1030.0
    assert limiter.check("ann").allowed
    for _ in range(5):  # hammering while refused does not push the wait further out
        assert not limiter.check("ann").allowed
    clock.now = 1059.9
    assert limiter.check("ann").retry_after_s == pytest.approx(0.1)
    clock.now = 1060.0  # the first question is a minute old: one place frees up
    assert limiter.check("ann").allowed
    assert not limiter.check("ann").allowed


def test_users_have_separate_budgets():
    limiter = RateLimiter(1, Clock())
    assert limiter.check("user:ann").allowed
    assert limiter.check("user:bob").allowed
    assert not limiter.check("user:ann").allowed


def test_zero_means_no_limit_and_a_negative_limit_is_refused():
    limiter = RateLimiter(0, Clock())
    assert all(limiter.check("ann").allowed for _ in range(1000))
    with pytest.raises(ValueError, match="per_minute"):
        RateLimiter(-1)


def test_a_wait_under_a_second_is_said_as_one_second():
    clock = Clock()
    limiter = RateLimiter(1, clock)
    limiter.check("ann")
    clock.now += 59.7
    assert limiter.check("ann").message.endswith("please wait 1 second before asking again.")


def test_idle_users_are_forgotten():
    clock = Clock()
    limiter = RateLimiter(5, clock)
    for n in range(100):
        limiter.check(f"user:{n}")
    clock.now += 61
    limiter.check("user:last")
    assert list(limiter._accepted) == ["user:last"]  # noqa: SLF001 - memory is the point of this test


def test_it_counts_exactly_under_concurrent_sessions():
    limiter = RateLimiter(50, Clock())
    results: list[bool] = []
    lock = threading.Lock()

    def ask() -> None:
        for _ in range(20):
            allowed = limiter.check("user:shared").allowed
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 50 and len(results) == 160


def test_keys_prefer_the_signed_in_user_then_the_address_then_the_session():
    assert limit_key(Principal("ann@example.org"), "10.0.0.7", "s1") == "user:ann@example.org"
    assert limit_key(Principal.anonymous(), "10.0.0.7", "s1") == "ip:10.0.0.7"
    assert limit_key(Principal.anonymous(), None, "s1") == "session:s1"
