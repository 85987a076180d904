"""How long and how hard each scenario is driven (``python -m bench --help``)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSettings:
    runs: int = 3
    seconds: float = 5.0
    warmup: float = 2.0
    concurrency: int = 32
    workers: int = 2
    #: Each in-process figure: ``runs`` timed runs of this long.
    inprocess_seconds: float = 1.0
    #: Incoming referrals listed in ``make bench``; ``make bench-long`` adds ``long_listing``.
    listing: int = 10_000
    long_listing: int = 1_000_000
    #: ``make bench-long``: the 10⁶ listing and the memory run.
    long: bool = False
    memory_seconds: float = 300.0
    #: The memory run's growth is measured from this far in (after warm-up).
    memory_warmup: float = 30.0
    backends: tuple[str, ...] = ("postgresql", "sqlite")
    #: Scenario groups to run: ``inprocess``, ``api``, ``exchange``.
    only: tuple[str, ...] = ("inprocess", "api", "exchange")


_STARTED = time.monotonic()


def say(message: str) -> None:
    """Progress on stderr, with the seconds since the run began."""
    print(f"bench [{time.monotonic() - _STARTED:5.0f}s] {message}", file=sys.stderr, flush=True)
