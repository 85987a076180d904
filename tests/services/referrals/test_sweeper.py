"""The node's deadline sweep (DESIGN §6) runs, on the same timer, every other sweep the node
hands it (journeys past a stage's due date, expired idempotency keys), each with the sweep's
time, and one that fails does not stop the others."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import FastAPI

from kit.db.base import utcnow
from services.referrals.sweeper import Sweeper


async def test_a_sweep_round_runs_every_other_sweep_with_its_time(app: FastAPI, client) -> None:
    seen: list[tuple[str, datetime]] = []

    async def journeys(now: datetime) -> int:
        seen.append(("journeys", now))
        return 2

    async def broken(now: datetime) -> int:
        seen.append(("broken", now))
        raise RuntimeError("this sweep fails")

    async def keys(now: datetime) -> int:
        seen.append(("keys", now))
        return 1

    at = utcnow() + timedelta(days=1)
    sweeper = Sweeper(app.state.federation, 0, [journeys, broken, keys])
    assert await sweeper.step(at) == 3
    assert seen == [("journeys", at), ("broken", at), ("keys", at)]
