"""A log line that cannot flood the log: the first of a kind, then at most one per period,
each saying how many were left out since (a sender can make a node refuse as often as it likes;
the operator needs to see that it happens, not every occurrence)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class RateLimitedLog:
    def __init__(
        self,
        emit: Callable[..., Any],
        *,
        period_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._period = period_seconds
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def __call__(self, event: str, *, key: str, **fields: Any) -> bool:
        """Log ``event`` unless one with ``key`` was logged within the period; True if logged."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return False
        self._last[key] = now
        self._emit(event, suppressed=self._skipped.pop(key, 0), **fields)
        return True
