"""Deadlines that pass on their own: unanswered referrals expire at ``respond_by``, content
past the agreement's retention is erased, and overdue erasure receipts are flagged to the
sender's admins (DESIGN §6). Runs in every node process; each step is one transaction per
referral and safe to run twice. The other sweeps the app hands it (``extra``: journeys past a
stage's due date, expired idempotency keys) run on the same timer, after these."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.faults import ContractError
from contracts.referrals import Action, ReferralStatus
from kit.db.base import utcnow
from kit.observability.logging import get_logger
from services.federation import incidents
from services.federation.runtime import Federation

from . import erasure, repository, service

log = get_logger("accord.referrals")
OPEN_OUTGOING = (ReferralStatus.APPROVED.value, ReferralStatus.SENT.value)
RETAINED = (
    ReferralStatus.COMPLETED.value,
    ReferralStatus.DECLINED.value,
    ReferralStatus.EXPIRED.value,
)


def _name(sweep: Callable[..., object]) -> str:
    function = sweep.func if isinstance(sweep, partial) else sweep
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', '?')}"


class Sweeper:
    def __init__(
        self,
        federation: Federation,
        interval: float,
        extra: Sequence[Callable[[datetime], Awaitable[int]]] = (),
    ) -> None:
        self.federation = federation
        self.interval = interval
        #: Other deadline sweeps run on the same schedule (journeys past a stage's due date).
        self.extra = tuple(extra)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=5)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.step()
            except Exception:
                log.exception("referral_sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)

    async def step(self, now: datetime | None = None) -> int:
        """One pass; returns how many things it changed: referrals, then what each of the other
        sweeps reports. A failing other sweep is logged and the rest still run."""
        now = now or utcnow()
        changed = (
            (await self._expire(now)) + (await self._retention(now)) + (await self._overdue(now))
        )
        for sweep in self.extra:
            try:
                changed += await sweep(now)
            except Exception:
                log.exception("deadline_sweep_failed", sweep=_name(sweep))
        return changed

    async def _ids(
        self, query: Callable[[AsyncSession], Awaitable[list[uuid.UUID]]]
    ) -> list[uuid.UUID]:
        async with self.federation.db.sessions() as session:
            return await query(session)

    async def _expire(self, now: datetime) -> int:
        changed = 0
        ids = await self._ids(
            partial(
                repository.past_respond_by,
                now=now,
                statuses=[*OPEN_OUTGOING, ReferralStatus.RECEIVED.value],
            )
        )
        for row_id in ids:
            async with self.federation.db.sessions.begin() as session:
                row = await repository.by_row_id(session, row_id, lock=True)
                if row is None:
                    continue
                try:
                    service.move(row, Action.EXPIRE, "node", "respond_by passed", at=now)
                except ContractError:
                    continue
                await service.announce(session, row, reason="respond_by_passed")
                await service._audit(session, None, row, "referral.expired")
                await service.announce_end(session, self.federation, row)
                if row.direction == "incoming":
                    await erasure.erase_received(
                        session, self.federation, row, reason="expired", at=now, notify=True
                    )
                changed += 1
        return changed

    async def _retention(self, now: datetime) -> int:
        changed = 0
        ids = await self._ids(partial(repository.holding_content, statuses=RETAINED))
        for row_id in ids:
            async with self.federation.db.sessions.begin() as session:
                row = await repository.by_row_id(session, row_id, lock=True)
                if row is None or row.data_key_wrapped is None:
                    continue
                agreement = await service.agreement_of(
                    session, agreement_id=row.agreement_id, version=row.agreement_version
                )
                if row.updated_at + timedelta(days=agreement.terms.retention_days) > now:
                    continue
                await erasure.erase_received(
                    session, self.federation, row, reason="retention", at=now, notify=False
                )
                changed += 1
        return changed

    async def _overdue(self, now: datetime) -> int:
        changed = 0
        ids = await self._ids(partial(repository.erasure_receipt_overdue, now=now))
        for row_id in ids:
            async with self.federation.db.sessions.begin() as session:
                row = await repository.by_row_id(session, row_id, lock=True)
                if row is None or row.erasure_flagged_at is not None:
                    continue
                row.erasure_flagged_at = now
                await erasure.announce(session, row, "overdue", due_at=row.erasure_due_at)
                await service._audit(
                    session,
                    None,
                    row,
                    "referral.erasure_overdue",
                    due_at=row.erasure_due_at.isoformat() if row.erasure_due_at else None,
                )
                await incidents.add(
                    session,
                    agency=row.agency,
                    direction="out",
                    kind="erasure-overdue",
                    peer=row.counterpart,
                    message_id=None,
                    detail=f"no signed erasure receipt for referral {row.referral_id} by "
                    f"{row.erasure_due_at}; nothing more goes to {row.counterpart} under "
                    f"agreement {row.agreement_id[:8]}… until it arrives",
                )
                changed += 1
        return changed
