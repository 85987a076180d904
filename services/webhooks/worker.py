"""Deliveries driven by the event log: fan-out, then attempts with backoff (DESIGN §8, §10).

**Fan-out.** For each subscription, one transaction locks its row (``SKIP LOCKED`` on
PostgreSQL, so two processes never fan out one subscription at once), reads its agency's new
events of its types after its cursor, inserts one ``pending`` delivery per event (``ON
CONFLICT DO NOTHING`` on (webhook, event)) and moves the cursor. Deliveries are made only
from committed events, so an event whose transaction rolled back never existed here.

**Events that commit late.** Event ids are UUIDv7, made when the event is appended; two
transactions may commit in the other order, so an event can become visible *behind* a cursor
that already passed it. A sequence would not help: PostgreSQL hands out sequence values at
insert time too, with the same gap. So each fan-out also looks back over the
``webhook_lookback_seconds`` (5 minutes) before its cursor for events of its types that have
no delivery yet (an anti-join on the unique key, so the look-back costs one indexed range
read and never sends twice). An event is lost only if its transaction stayed open longer
than the look-back after appending it; request transactions last milliseconds.

**Attempts.** Due deliveries are leased in one transaction, attempted with no transaction
open, and each outcome is recorded in a transaction of its own. 2xx is delivered; anything
else, a timeout or a refused target is a failed attempt, retried after an exponential backoff
with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter") until 24 h after
the delivery was made, then ``failed``. An admin may redeliver it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import httpx

from kit.db.base import utcnow
from kit.db.session import Database, read_only
from kit.observability.logging import get_logger
from kit.observability.metrics import HttpMetrics
from kit.settings import Settings
from services.events import repository as events
from services.events.models import Event
from services.events.schemas import EventOut

from . import repository, service, signing, targets
from .models import Webhook, WebhookDelivery

log = get_logger("accord.webhooks")
USER_AGENT = "Accord-Webhooks/1 (+https://www.standardwebhooks.com)"
PRUNE_EVERY = timedelta(hours=1)

Clock = Callable[[], datetime]


@cache
def _tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


@dataclass(frozen=True)
class Outcome:
    #: ``delivered``, ``retry`` (a failed attempt), ``failed`` (never to be retried) or
    #: ``cancelled``.
    kind: str
    status: int | None = None
    code: str | None = None


def body_of(event: Event) -> bytes:
    """Exactly the event: ``{"type", "timestamp", "data"}`` (its id is the header's)."""
    payload = EventOut(
        id=str(event.id), type=event.type, timestamp=event.timestamp, data=event.data
    )
    return json.dumps(
        payload.model_dump(mode="json", exclude={"id"}), separators=(",", ":"), sort_keys=True
    ).encode()


def _millis(event_id: uuid.UUID) -> int:
    return event_id.int >> 80


class WebhookWorker:
    BATCH = 200

    def __init__(
        self,
        db: Database,
        master_key: bytes,
        settings: Settings,
        *,
        metrics: HttpMetrics | None = None,
        http: httpx.AsyncClient | None = None,
        resolve: targets.Resolver | None = None,
        clock: Clock = utcnow,
        jitter: Callable[[], float] = random.random,
        allow_private: bool | None = None,
    ) -> None:
        self.db = db
        self.master_key = master_key
        self.settings = settings
        self.metrics = metrics
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds,
            # A redirect would go to an address nobody checked.
            follow_redirects=False,
            verify=_tls_context(),
        )
        self.resolve = resolve or targets.system_resolver
        self.clock = clock
        self.jitter = jitter
        #: A dev node may deliver to 127.0.0.1 and over plain http; nothing else may.
        self.allow_private = settings.env == "dev" if allow_private is None else allow_private
        self.lease = timedelta(seconds=max(settings.webhook_timeout_seconds * 3, 30.0))
        self._pruned_at: datetime | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- the loop ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=5)
        if self._own_http:
            await self.http.aclose()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                progressed = await self.step()
            except Exception:
                log.exception("webhook_round_failed")
                progressed = 0
            if not progressed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stop.wait(), timeout=self.settings.webhook_poll_seconds
                    )

    async def step(self) -> int:
        """One round: prune (hourly), fan out, attempt what is due. Returns deliveries made
        plus attempts settled."""
        await self.prune()
        return await self.fan_out() + await self.deliver_due()

    # --- pruning ----------------------------------------------------------------------------

    async def prune(self) -> int:
        """Drop events older than ``event_retention_days`` (at least 30), once an hour."""
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        async with self.db.sessions.begin() as session:
            return await events.prune(
                session, older_than=now - timedelta(days=self.settings.event_retention_days)
            )

    # --- fan-out ----------------------------------------------------------------------------

    async def fan_out(self) -> int:
        async with self.db.sessions() as session:
            await read_only(session)
            ids = await repository.live_webhook_ids(session)
        made = 0
        for webhook_id in ids:
            made += await self._fan_out_one(webhook_id)
        return made

    async def _fan_out_one(self, webhook_id: uuid.UUID) -> int:
        now = self.clock()
        retry_until = now + timedelta(hours=self.settings.webhook_retry_hours)
        async with self.db.sessions.begin() as session:
            webhook = await repository.lock_live(session, webhook_id)
            if webhook is None:
                return 0
            start = events.id_floor(webhook.created_at)
            late: list[Event] = []
            if webhook.cursor is not None:
                lookback = timedelta(seconds=self.settings.webhook_lookback_seconds)
                moment = datetime.fromtimestamp(_millis(webhook.cursor) / 1000, tz=now.tzinfo)
                lower = max(start, events.id_floor(moment - lookback))
                late = list(
                    await repository.late_events(
                        session, webhook, lower=lower, upper=webhook.cursor, limit=self.BATCH
                    )
                )
            new = list(
                await repository.new_events(
                    session, webhook, lower=webhook.cursor or start, limit=self.BATCH
                )
            )
            await repository.add_deliveries(
                session, webhook, [*late, *new], now=now, retry_until=retry_until
            )
            if new:
                webhook.cursor = new[-1].id
            if late:
                log.info("webhook_late_events", webhook_id=str(webhook.id), count=len(late))
            return len(late) + len(new)

    # --- attempts ---------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        now = self.clock()
        async with self.db.sessions.begin() as session:
            claimed = [
                (row.id, row.leased_until)
                for row in await repository.claim_due(
                    session, now=now, lease_until=now + self.lease, limit=self.BATCH
                )
            ]
        settled = 0
        for delivery_id, lease in claimed:
            outcome = await self._attempt(delivery_id)
            settled += await self._settle(delivery_id, lease, outcome)
        return settled

    async def _attempt(self, delivery_id: uuid.UUID) -> Outcome:
        async with self.db.sessions() as session:
            await read_only(session)
            delivery = await session.get(WebhookDelivery, delivery_id)
            webhook = await session.get(Webhook, delivery.webhook_id) if delivery else None
            event = await session.get(Event, delivery.event_id) if delivery else None
            if delivery is None or webhook is None or webhook.deleted_at is not None:
                return Outcome("cancelled", code="unsubscribed")
            if event is None:
                return Outcome("failed", code="event_pruned")
            url = webhook.url
            now = self.clock()
            secrets = service.signing_secrets(self.master_key, webhook, now=now)
        body = body_of(event)
        timestamp = int(now.timestamp())
        msg_id = str(delivery_id)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signing.signature_header(
                secrets, msg_id=msg_id, timestamp=timestamp, body=body
            ),
        }
        extensions: dict[str, str] = {}
        if not self.allow_private:
            try:
                pinned = await targets.pin(url, self.resolve)
            except targets.TargetRefused as refused:
                return Outcome("retry", code=refused.code)
            url = pinned.url
            headers["host"] = pinned.host_header
            if pinned.sni_hostname:
                extensions["sni_hostname"] = pinned.sni_hostname
        try:
            async with self.http.stream(
                "POST", url, content=body, headers=headers, extensions=extensions
            ) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return Outcome("retry", code="timeout")
        except (httpx.HTTPError, OSError):
            return Outcome("retry", code="connect_error")
        if 200 <= status < 300:
            return Outcome("delivered", status=status)
        return Outcome("retry", status=status, code=f"http_{status}")

    async def _settle(
        self, delivery_id: uuid.UUID, lease: datetime | None, outcome: Outcome
    ) -> int:
        now = self.clock()
        async with self.db.sessions.begin() as session:
            delivery = await repository.lock_delivery(session, delivery_id)
            if delivery is None or delivery.status != "pending" or delivery.leased_until != lease:
                return 0  # redelivered, cancelled or taken over meanwhile
            delivery.leased_until = None
            kind = outcome.kind
            if kind != "cancelled":
                delivery.attempts += 1
                delivery.last_attempt_at = now
                delivery.last_status = outcome.status
                delivery.last_error = outcome.code
            if kind == "delivered":
                delivery.status = "delivered"
                delivery.delivered_at = now
            elif kind == "cancelled":
                delivery.status = "cancelled"
                delivery.last_error = outcome.code
            elif kind == "failed" or now >= delivery.retry_until:
                delivery.status = "failed"
                kind = "failed"
            else:
                cap = self.settings.webhook_backoff_cap_seconds
                base = self.settings.webhook_backoff_base_seconds
                ceiling = min(cap, base * 2 ** min(delivery.attempts - 1, 32))
                delay = timedelta(seconds=self.jitter() * ceiling)
                # The last attempt is at the deadline, so "24 h" means 24 h.
                delivery.next_attempt_at = min(now + delay, delivery.retry_until)
            metric = "refused" if outcome.code in targets.REFUSALS else kind
        if self.metrics is not None:
            self.metrics.webhook_attempts.labels(outcome=metric).inc()
        if kind in ("failed", "retry") or metric == "refused":
            log.info(
                "webhook_attempt_failed",
                delivery_id=str(delivery_id),
                code=outcome.code,
                final=kind == "failed",
            )
        return 1
