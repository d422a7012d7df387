"""A per-user limit on questions: at most N in any sliding minute, with a polite refusal.

A sliding window (the times of the last N accepted questions) rather than a token bucket, because
its refusal can be explained exactly: "you asked N in the last minute; the oldest leaves the window
in S seconds". Only accepted questions count, so waiting always helps. One limiter serves every
session of the process (sessions and API requests run in threads, hence the lock); users idle for a minute are
forgotten, so memory follows the number of recent users, not of all users ever.

Keys (see :func:`limit_key`): a signed-in user by name, so several tabs share one budget; an anonymous
visitor by client IP address, because a session id would reset on every page reload. Behind a reverse
proxy the address Streamlit sees is the proxy's, so all anonymous visitors share one budget there:
sign users in (OIDC) or raise the limit. Without any address (tests) the browser session is the key.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from askdocs.types import Principal

WINDOW_S = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    recent: int  # questions accepted in the last minute, this one included when allowed
    retry_after_s: float = 0.0

    @property
    def message(self) -> str:
        wait = max(1, math.ceil(self.retry_after_s))
        return (
            f"You've asked {self.recent} questions in the last minute; please wait {wait} "
            f"second{'s' if wait != 1 else ''} before asking again."
        )


class RateLimiter:
    """At most ``per_minute`` accepted calls per key in any 60-second window; 0 means no limit.

    Example:
        >>> limiter = RateLimiter(2, clock=iter([0.0, 1.0, 2.0]).__next__)
        >>> [limiter.check("ann").allowed for _ in range(3)]
        [True, True, False]
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must be 0 (no limit) or more")
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._accepted: dict[str, deque[float]] = {}

    def check(self, key: str) -> Decision:
        """Accept (and count) a question from ``key``, or refuse it and say how long to wait."""
        if self.per_minute == 0:
            return Decision(True, 0)
        now = self._clock()
        with self._lock:
            self._forget_idle(now)
            times = self._accepted.setdefault(key, deque())
            if len(times) >= self.per_minute:
                return Decision(False, len(times), times[0] + WINDOW_S - now)
            times.append(now)
            return Decision(True, len(times))

    def _forget_idle(self, now: float) -> None:
        for key in list(self._accepted):
            times = self._accepted[key]
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if not times:
                del self._accepted[key]


def limit_key(principal: Principal, ip_address: str | None, session_id: str) -> str:
    """Whose budget a question counts against (the module docstring says why)."""
    if principal.name:
        return f"user:{principal.name}"
    if ip_address:
        return f"ip:{ip_address}"
    return f"session:{session_id}"
