"""The periodic checkpoint step, run in each API process's lifespan (see ``service``)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from kit.db.session import Database
from kit.observability.logging import get_logger
from kit.settings import Settings

from . import service

log = get_logger("accord.audit")


class Checkpointer:
    """Signs due checkpoints every ``audit_checkpoint_interval_seconds``.

    Tests drive :meth:`step` directly instead of waiting for the loop.
    """

    def __init__(self, db: Database, master_key: bytes, settings: Settings) -> None:
        self._db = db
        self._master_key = master_key
        self._settings = settings
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def step(self) -> int:
        """One pass in its own transaction; returns how many checkpoints it signed."""
        async with self._db.sessions.begin() as session:
            written = await service.checkpoint_due(
                session,
                master_key=self._master_key,
                every=self._settings.audit_checkpoint_every,
                max_age=timedelta(seconds=self._settings.audit_checkpoint_max_age_seconds),
            )
        return len(written)

    async def _run(self, interval: float) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=interval)
            if self._stop.is_set():
                return
            try:
                await self.step()
            except SQLAlchemyError:
                # Not migrated yet, or the database is briefly away: /readyz says which; the
                # next pass catches up, since due-ness is computed from the rows each time.
                log.warning("audit_checkpoint_step_failed", exc_info=True)
            except Exception:
                # A bug must not stop checkpointing for the life of the process.
                log.exception("audit_checkpoint_step_crashed")

    def start(self) -> None:
        interval = self._settings.audit_checkpoint_interval_seconds
        if interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(interval), name="audit-checkpointer")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
