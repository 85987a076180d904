"""The federation side of a running node: directory, handlers, HTTP client, delivery worker."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated

import httpx
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope
from kit.db.session import Database, read_only
from kit.events import Events
from kit.http.state import on_the_loop
from kit.observability.logging import get_logger
from kit.observability.ratelimit import RateLimitedLog
from kit.settings import Settings
from services.agencies.models import Agency
from services.keys.store import KeyRing

from .directory import DirectoryHolder
from .inbox import Handler
from .models import OutboxMessage
from .outbox import DeliveryWorker

log = get_logger("accord.federation")

#: Given a queued envelope (and a read session), a reason it may no longer leave, or None.
Gate = Callable[[AsyncSession, Envelope], Awaitable[str | None]]
#: Given the session and the settled outbox row (status delivered, rejected or cancelled).
SettledHook = Callable[[AsyncSession, "OutboxMessage", "Federation"], Awaitable[None]]
"""Runs when an outbox message settles, in the transaction that records it."""
HOSTED_TTL = 30.0
#: How long a peer that answered a batch with 404/405 is sent messages one by one before it is
#: offered a batch again (it may have been upgraded meanwhile).
NO_BATCHES_SECONDS = 600.0


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process: loading the CA bundle takes tens of
    milliseconds at every node start, and one context may serve many clients."""
    return httpx.create_ssl_context()


@dataclass
class Federation:
    settings: Settings
    db: Database
    master_key: bytes
    handlers: Mapping[str, Handler]
    #: Checks run before each delivery attempt; any reason cancels the message (DESIGN §5,
    #: continuous enforcement: nothing queued under a suspended agreement or a withdrawn
    #: consent leaves).
    gates: Sequence[Gate]
    #: Called in the transaction that records a message's fate, by message type, so the state
    #: it announced follows (a referral becomes ``sent`` once its recipient's receipt is in).
    settled_hooks: Mapping[str, SettledHook]
    directory: DirectoryHolder
    http: httpx.AsyncClient
    keys: KeyRing
    events: Events = field(default_factory=Events)
    #: Refusals anyone could provoke are logged through this, never more than once a minute
    #: per kind, so a flood of forged messages cannot flood the log either.
    refusals_log: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log.warning))
    #: Set when a transaction that queued a message commits, so the worker delivers it now.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    _hosted: tuple[float, frozenset[str]] = (0.0, frozenset())
    _no_batches: dict[str, float] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        settings: Settings,
        db: Database,
        master_key: bytes,
        handlers: Mapping[str, Handler],
        gates: Sequence[Gate] = (),
        settled_hooks: Mapping[str, SettledHook] | None = None,
    ) -> Federation:
        return cls(
            settings=settings,
            db=db,
            master_key=master_key,
            handlers=dict(handlers),
            gates=tuple(gates),
            settled_hooks=dict(settled_hooks or {}),
            directory=DirectoryHolder(settings, db),
            http=httpx.AsyncClient(
                timeout=settings.delivery_timeout_seconds, verify=_tls_context()
            ),
            keys=KeyRing(db, master_key),
        )

    async def hosts(self, agency: str) -> bool:
        """Whether ``agency`` is hosted on this node (cached; a miss looks again)."""
        loaded_at, hosted = self._hosted
        if agency in hosted and time.monotonic() - loaded_at < HOSTED_TTL:
            return True
        async with self.db.sessions() as session:
            await read_only(session)
            slugs = frozenset((await session.scalars(select(Agency.slug))).all())
        self._hosted = (time.monotonic(), slugs)
        return agency in slugs

    def takes_batches(self, node_url: str) -> bool:
        """Whether the delivery worker offers ``node_url`` batches (DESIGN §4: every node
        takes them; one that did not lately is sent single messages for a while)."""
        refused_at = self._no_batches.get(node_url)
        return refused_at is None or time.monotonic() - refused_at > NO_BATCHES_SECONDS

    def refuses_batches(self, node_url: str) -> None:
        self._no_batches[node_url] = time.monotonic()

    @property
    def worker(self) -> DeliveryWorker:
        return DeliveryWorker(self)

    async def start(self) -> None:
        """Load the held directory, refresh it, and start the background loops (unless
        ``background_workers`` is off: then whoever holds the node drives each step)."""
        try:
            await self.directory.load_held()
            await self.directory.refresh(self.http)
        except Exception:
            log.exception("directory_start_failed")
        if not self.settings.background_workers:
            return
        if self.directory.configured:
            self._tasks.append(asyncio.create_task(self._refresh_directory()))
        if self.settings.delivery_worker:
            self._tasks.append(asyncio.create_task(DeliveryWorker(self).run(self._stop)))

    async def _refresh_directory(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stop.wait(), timeout=self.settings.directory_refresh_seconds
                )
            if not self._stop.is_set():
                try:
                    await self.directory.refresh(self.http)
                except Exception:
                    log.exception("directory_refresh_failed")

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=5)
        await self.http.aclose()


def federation_of(request: Request) -> Federation:
    """The node's federation side, opened once in the app's lifespan."""
    federation: Federation = request.app.state.federation
    return federation


FederationDep = Annotated[Federation, Depends(on_the_loop(federation_of))]
