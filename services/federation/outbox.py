"""Sending: seal and sign a message, write it to the outbox in the caller's transaction, and
deliver it later, in order per recipient, with retries, backoff and jitter (DESIGN §4)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import and_, event, exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contracts import envelope as env
from contracts.delivery import encode_attempt, make_attempt
from contracts.directory import DirectoryError
from contracts.keys import KeyProblem
from kit.db.base import utcnow
from kit.db.session import read_only
from kit.observability.logging import get_logger

from . import errors, incidents
from .inbox import MAX_BATCH, receive_batch
from .models import OutboxChannel, OutboxMessage

if TYPE_CHECKING:
    from .runtime import Federation

log = get_logger("accord.outbox")
ATTEMPT_HEADER = "Accord-Attempt"
MESSAGES_PATH = "/federation/v1/messages"
BATCHES_PATH = "/federation/v1/batches"
#: Where a session that queued a message keeps the worker to wake once it commits.
_WAKE = "accord.outbox.wake"


@event.listens_for(Session, "after_commit")
def _wake_worker(session: Session) -> None:
    """A queued message leaves when its transaction commits, not at the next poll."""
    wake = session.info.pop(_WAKE, None)
    if wake is not None:
        wake.set()


async def send(
    session: AsyncSession,
    federation: Federation,
    *,
    sender: str,
    recipient: str,
    type: str,
    body: Mapping[str, Any] | None = None,
    categories: Mapping[str, Mapping[str, Any]] | None = None,
    agreement: env.AgreementRef | None = None,
    purpose: str | None = None,
    consent: str | None = None,
    referral: str | None = None,
    encryption: str | None = None,
    now: datetime | None = None,
) -> env.Envelope:
    """Seal, sign and queue a message in the caller's transaction: it leaves only if the state
    change it announces commits."""
    now = (now or utcnow()).replace(microsecond=0)
    directory = federation.directory.require()
    recipient_keys = directory.member(recipient).keys
    signing = await federation.keys.signing(sender, at=now)
    sealed_categories = dict(categories or {})
    header = env.EnvelopeHeader(
        id=env.new_message_id(),
        type=type,
        from_=sender,
        to=recipient,
        sent_at=now,
        expires_at=now + timedelta(hours=federation.settings.message_ttl_hours),
        agreement=agreement,
        purpose=purpose,
        consent=consent,
        referral=referral,
        kids=env.HeaderKids(
            sig=signing.kid,
            enc=env.encryption_kids(
                sealed_categories, recipient_keys, at=now, encryption=encryption
            ),
        ),
    )
    envelope = env.seal_and_sign(
        header, dict(body or {}), sealed_categories, recipient_keys, signing, encryption=encryption
    )
    await enqueue(session, envelope)
    session.info[_WAKE] = federation.wake
    return envelope


async def enqueue(session: AsyncSession, envelope: env.Envelope) -> OutboxMessage:
    header = envelope.header
    row = OutboxMessage(
        message_id=header.id,
        sender=header.from_,
        recipient=header.to,
        type=header.type,
        referral_id=header.referral,
        envelope=envelope.model_dump(mode="json"),
        status="pending",
        created_at=utcnow(),
    )
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # Without autoflush, and the message added after: the caller's pending changes (a
    # referral's new status) and the message's INSERT go out together at its next flush or
    # commit, with whatever it changes after queueing (the message id it records).
    with session.no_autoflush:
        await session.execute(
            insert(OutboxChannel)
            .values(sender=header.from_, recipient=header.to, next_attempt_at=utcnow(), failures=0)
            .on_conflict_do_nothing(index_elements=["sender", "recipient"])
        )
    session.add(row)
    return row


async def cancel_sealed(
    session: AsyncSession, *, sender: str, referral_id: str, reason: str
) -> int:
    """Stop every pending message of ``sender`` about a referral that still carries sealed
    content, and drop that content: erasure leaves no copy waiting in the outbox either."""
    rows = (
        await session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.sender == sender,
                OutboxMessage.referral_id == referral_id,
                OutboxMessage.status == "pending",
            )
            .with_for_update()
        )
    ).all()
    stopped = 0
    for message in rows:
        if message.envelope.get("sealed"):
            message.status = "cancelled"
            message.last_error = reason[:2000]
            message.envelope = evidence_of(message.envelope)
            stopped += 1
    await session.flush()
    return stopped


def evidence_of(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored envelope without its sealed content: the evidence that stays (DESIGN §4)."""
    return {key: value for key, value in stored.items() if key != "sealed"}


@dataclass(frozen=True)
class Delivered:
    receipt: env.SignedReceipt


@dataclass(frozen=True)
class Refused:
    """The recipient verified the message and refused its content, with a signed receipt."""

    receipt: env.SignedReceipt

    @property
    def reasons(self) -> tuple[env.RefusalReason, ...]:
        return incidents.refusal_of(self.receipt)


@dataclass(frozen=True)
class Rejected:
    kind: str
    detail: str


@dataclass(frozen=True)
class Retry:
    detail: str


@dataclass(frozen=True)
class Cancelled:
    reason: str


Outcome = Delivered | Refused | Rejected | Retry | Cancelled


class DeliveryWorker:
    """Claims channels with a lease, drains each in order, backs off a channel on failure.

    On PostgreSQL the claim is ``FOR UPDATE SKIP LOCKED``, so several API processes on one
    database never work one channel at once; the lease (not a held transaction) covers the
    HTTP call, so no transaction stays open across the network.

    A channel's due messages leave as one batch of up to 100 (``POST /federation/v1/batches``,
    DESIGN §4), or one by one to a peer that does not take batches, and their outcomes are
    recorded in one transaction per batch.
    """

    #: Messages one claim of a channel settles at most before the channel is released, so a
    #: busy channel does not starve the others.
    BATCH = 5 * MAX_BATCH

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"
        # Renewed with every batch settled, so it can be short: a worker killed mid-channel
        # blocks that channel for one lease at most, not for the whole drain.
        self.lease = timedelta(seconds=federation.settings.delivery_lease_seconds)

    @property
    def db(self) -> Any:
        return self.federation.db

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop``; idle, wait for the poll interval or for a commit that queued
        a message in this process (:func:`send` wakes the worker), whichever comes first."""
        poll = self.federation.settings.outbox_poll_seconds
        wake = self.federation.wake
        while not stop.is_set():
            # Cleared before the round: a message queued during it wakes the next wait.
            wake.clear()
            try:
                progressed = await self.deliver_round()
            except Exception:
                log.exception("delivery_round_failed")
                progressed = 0
            if not progressed:
                await _first_of(stop, wake, seconds=poll)

    async def deliver_round(self) -> int:
        """Claim due channels and drain them; returns the number of messages settled."""
        settled = 0
        for sender, recipient in await self._claim():
            settled += await self._drain(sender, recipient)
        return settled

    async def _claim(self, limit: int = 8) -> list[tuple[str, str]]:
        now = utcnow()
        pending = exists().where(
            and_(
                OutboxMessage.sender == OutboxChannel.sender,
                OutboxMessage.recipient == OutboxChannel.recipient,
                OutboxMessage.status == "pending",
            )
        )
        statement = (
            select(OutboxChannel)
            .where(
                OutboxChannel.next_attempt_at <= now,
                or_(OutboxChannel.leased_until.is_(None), OutboxChannel.leased_until < now),
                pending,
            )
            .order_by(OutboxChannel.next_attempt_at)
            .limit(limit)
        )
        async with self.db.sessions.begin() as session:
            if session.bind.dialect.name == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            channels = list((await session.scalars(statement)).all())
            for channel in channels:
                channel.lease_owner = self.owner
                channel.leased_until = now + self.lease
            return [(c.sender, c.recipient) for c in channels]

    async def _drain(self, sender: str, recipient: str) -> int:
        settled = 0
        while settled < self.BATCH:
            async with self.db.sessions() as session:
                await read_only(session)
                queue = list(
                    (
                        await session.scalars(
                            select(OutboxMessage)
                            .where(
                                OutboxMessage.sender == sender,
                                OutboxMessage.recipient == recipient,
                                OutboxMessage.status == "pending",
                            )
                            .order_by(OutboxMessage.position)
                            .limit(MAX_BATCH)
                        )
                    ).all()
                )
            if not queue:
                break
            outcomes = await self._attempt_many(queue)
            still_ours, count = await self._settle(
                sender, recipient, list(zip(queue, outcomes, strict=False))
            )
            settled += count
            if not still_ours or isinstance(outcomes[-1], Retry):
                return settled
        await self._release(sender, recipient)
        return settled

    async def _attempt(self, message: OutboxMessage) -> Outcome:
        """Deliver one message (as the head of a batch of one)."""
        return (await self._attempt_many([message]))[0]

    async def _attempt_many(self, queue: Sequence[OutboxMessage]) -> list[Outcome]:
        """Deliver the head of one channel's queue; the outcomes of a prefix of it, in order,
        at least one, ending at the first :class:`Retry` if any (what follows it waits)."""
        federation = self.federation
        envelopes = [env.Envelope.model_validate(m.envelope) for m in queue]
        gated: dict[int, Outcome] = {}
        if federation.gates:
            async with self.db.sessions() as session:
                await read_only(session)
                for index, envelope in enumerate(envelopes):
                    for gate in federation.gates:
                        reason = await gate(session, envelope)
                        if reason is not None:
                            gated[index] = Cancelled(reason)
                            break
        leaving = [e for i, e in enumerate(envelopes) if i not in gated]
        results: list[_Result] = []
        if leaving:
            now = utcnow()
            try:
                signing = await federation.keys.signing(leaving[0].header.from_, at=now)
                items = [(e, encode_attempt(make_attempt(e, signing, at=now))) for e in leaving]
                if await federation.hosts(leaving[0].header.to):
                    results = await self._deliver_locally(items)
                else:
                    results = await self._deliver_remotely(items)
            except (httpx.HTTPError, OSError, _Transient, DirectoryError, KeyProblem) as exc:
                results = [exc]
        outcomes: list[Outcome] = []
        answered = iter(results)
        for index, envelope in enumerate(envelopes):
            if index in gated:
                outcomes.append(gated[index])
                continue
            result = next(answered, None)
            if result is None:
                break  # not sent this time (the batch was full)
            outcome = self._outcome(envelope, result)
            outcomes.append(outcome)
            if isinstance(outcome, Retry):
                break
        return outcomes

    def _outcome(self, envelope: env.Envelope, result: _Result) -> Outcome:
        if isinstance(result, env.SignedReceipt):
            return self._check_receipt(envelope, result)
        if isinstance(result, errors.FederationRefusal):
            if result.retryable:
                return Retry(f"{result.slug}: {result.detail}")
            return Rejected(result.slug, result.detail)
        if isinstance(result, _Refused):
            return Rejected(result.kind, result.detail)
        return Retry(f"{type(result).__name__}: {result}")

    async def _deliver_locally(self, items: list[tuple[env.Envelope, str]]) -> list[_Result]:
        """Between two agencies of this node: the recipient's side of a batch, minus HTTP."""
        async with self.db.sessions() as session, session.begin():
            received = await receive_batch(session, self.federation, items)
            for (envelope, _), result in zip(items, received, strict=True):
                await incidents.add_received(session, envelope.header, result, every_refusal=True)
        return [r if isinstance(r, errors.FederationRefusal) else r[0] for r in received]

    async def _deliver_remotely(self, items: list[tuple[env.Envelope, str]]) -> list[_Result]:
        directory = self.federation.directory.require()
        node = directory.node_url(items[0][0].header.to).rstrip("/")
        if len(items) > 1 and self.federation.takes_batches(node):
            try:
                return await self._deliver_batch_over_http(node, items)
            except _NoBatch:
                pass  # sent one by one below, where each gets its own answer
        results: list[_Result] = []
        for envelope, attempt in items:
            try:
                results.append(await self._deliver_over_http(node, envelope, attempt))
            except _Refused as refused:
                results.append(refused)
            except (httpx.HTTPError, OSError, _Transient) as exc:
                results.append(exc)
                break
        return results

    async def _deliver_batch_over_http(
        self, node: str, items: list[tuple[env.Envelope, str]]
    ) -> list[_Result]:
        """One ``POST /federation/v1/batches`` of the longest prefix of ``items`` that keeps
        under ``federation_max_batch_bytes``; the answer for each envelope sent, in order."""
        limit = self.federation.settings.federation_max_batch_bytes
        parts: list[bytes] = []
        attempts: list[str] = []
        size = 64
        for envelope, attempt in items:
            part = json.dumps(envelope.model_dump(mode="json")).encode()
            grown = size + len(part) + len(attempt) + 4
            if parts and grown > limit:
                break
            parts.append(part)
            attempts.append(attempt)
            size = grown
        body = b'{"envelopes":[%s],"attempts":%s}' % (
            b",".join(parts),
            json.dumps(attempts).encode(),
        )
        response = await self.federation.http.post(
            node + BATCHES_PATH, content=body, headers={"Content-Type": "application/json"}
        )
        if response.status_code == 200:
            try:
                listed = response.json()["receipts"]
            except (ValueError, TypeError, KeyError) as exc:
                raise _Transient(f"unreadable batch answer: {exc}") from exc
            if not isinstance(listed, list) or len(listed) != len(parts):
                raise _Transient("the batch answer does not list one entry per envelope")
            return [_batch_entry(entry) for entry in listed]
        if response.status_code in (404, 405):
            # A node from before batches (they are optional for senders, DESIGN §4).
            self.federation.refuses_batches(node)
            raise _NoBatch
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code} {_problem(response).get('type', '')}")
        # The batch itself was refused (too large for that node, say): each message alone.
        raise _NoBatch

    async def _deliver_over_http(
        self, node: str, envelope: env.Envelope, attempt: str
    ) -> env.SignedReceipt:
        response = await self.federation.http.post(
            node + MESSAGES_PATH,
            content=json.dumps(envelope.model_dump(mode="json")).encode(),
            headers={"Content-Type": "application/json", ATTEMPT_HEADER: attempt},
        )
        if response.status_code in (200, 201):
            try:
                return env.SignedReceipt.model_validate(response.json())
            except (ValueError, TypeError) as exc:
                raise _Transient(f"unreadable receipt: {exc}") from exc
        problem = _problem(response)
        if response.status_code == 422 and isinstance(problem.get("receipt"), dict):
            # A refusal of the content comes with the recipient's signed receipt; whether it
            # verifies, and is for this message, is checked like any receipt.
            try:
                return env.SignedReceipt.model_validate(problem["receipt"])
            except (ValueError, TypeError) as exc:
                raise _Transient(f"unreadable refusal receipt: {exc}") from exc
        raise _refusal(response.status_code, problem)

    def _check_receipt(self, envelope: env.Envelope, signed: env.SignedReceipt) -> Outcome:
        directory = self.federation.directory.require()
        header = envelope.header
        try:
            key = directory.member_key(
                header.to, signed.signature.kid, at=signed.receipt.at, use="sig"
            )
            receipt = env.verify_receipt(signed, key)
        except (DirectoryError, KeyProblem, env.EnvelopeError) as exc:
            return Retry(f"receipt does not verify: {exc}")
        if not isinstance(receipt, env.DeliveryReceipt) or (
            receipt.by,
            receipt.message_id,
            receipt.digest,
        ) != (header.to, header.id, env.envelope_digest(envelope)):
            return Retry("the receipt is for another message or from another agency")
        return Delivered(signed) if receipt.accepted else Refused(signed)

    async def _settle(
        self, sender: str, recipient: str, outcomes: Sequence[tuple[OutboxMessage, Outcome]]
    ) -> tuple[bool, int]:
        """Record the outcomes, in one transaction, if this worker still holds the channel's
        lease; returns whether it does and how many messages settled."""
        now = utcnow()
        async with self.db.sessions.begin() as session:
            channel = await session.get(OutboxChannel, (sender, recipient))
            if channel is None or channel.lease_owner != self.owner:
                return False, 0
            rows = {
                m.position: m
                for m in (
                    await session.scalars(
                        select(OutboxMessage).where(
                            OutboxMessage.position.in_([q.position for q, _ in outcomes])
                        )
                    )
                ).all()
            }
            settled = 0
            for queued, outcome in outcomes:
                message = rows.get(queued.position)
                if message is None:
                    return False, settled
                await self._record(session, channel, message, outcome, now)
                if not isinstance(outcome, Retry):
                    settled += 1
        return True, settled

    async def _record(
        self,
        session: AsyncSession,
        channel: OutboxChannel,
        message: OutboxMessage,
        outcome: Outcome,
        now: datetime,
    ) -> None:
        sender, recipient = channel.sender, channel.recipient
        settings = self.federation.settings
        message.attempts += 1
        channel.leased_until = now + self.lease
        if isinstance(outcome, Delivered):
            message.status = "delivered"
            message.delivered_at = now
            message.receipt = outcome.receipt.model_dump(mode="json")
            message.last_error = None
            channel.failures = 0
            channel.last_error = None
        elif isinstance(outcome, Refused):
            reasons = "; ".join(f"{r.code}: {r.message}" for r in outcome.reasons)
            message.status = "refused"
            message.delivered_at = now
            message.receipt = outcome.receipt.model_dump(mode="json")
            message.last_error = reasons[:2000]
            channel.failures = 0
            channel.last_error = None
            await incidents.add(
                session,
                agency=sender,
                direction="out",
                kind="refused-by-recipient",
                peer=recipient,
                message_id=message.message_id,
                detail=reasons,
            )
        elif isinstance(outcome, Cancelled):
            message.status = "cancelled"
            message.last_error = outcome.reason[:2000]
            await incidents.add(
                session,
                agency=sender,
                direction="out",
                kind="cancelled-by-policy",
                peer=recipient,
                message_id=message.message_id,
                detail=outcome.reason,
            )
        elif isinstance(outcome, Rejected):
            message.status = "rejected"
            message.last_error = f"{outcome.kind}: {outcome.detail}"[:2000]
            await incidents.add(
                session,
                agency=sender,
                direction="out",
                kind=outcome.kind,
                peer=recipient,
                message_id=message.message_id,
                detail=outcome.detail,
            )
        else:
            message.last_error = outcome.detail[:2000]
            channel.failures += 1
            channel.last_error = outcome.detail[:2000]
            delay = min(
                settings.delivery_backoff_cap_seconds,
                settings.delivery_backoff_base_seconds * 2 ** (channel.failures - 1),
            )
            # "Equal jitter": at least half the backoff, so a fleet of senders spreads out
            # after an outage without any of them retrying early.
            delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - not security
            channel.next_attempt_at = now + timedelta(seconds=delay)
            channel.lease_owner = None
            channel.leased_until = None
            log.info(
                "delivery_retry",
                sender=sender,
                recipient=recipient,
                failures=channel.failures,
                delay_s=round(delay, 2),
            )
        if message.status != "pending":
            # Settled: the recipient has its copy (or will never get one); the sender keeps
            # the evidence, never a second decryptable copy of the content.
            message.envelope = evidence_of(message.envelope)
            hook = self.federation.settled_hooks.get(message.type)
            if hook is not None:
                await hook(session, message, self.federation)

    async def _release(self, sender: str, recipient: str) -> None:
        async with self.db.sessions.begin() as session:
            channel = await session.get(OutboxChannel, (sender, recipient))
            if channel is not None and channel.lease_owner == self.owner:
                channel.lease_owner = None
                channel.leased_until = None


class _Transient(Exception):
    pass


class _NoBatch(Exception):
    """The peer does not take this batch: send its messages one by one."""


class _Refused(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


_RETRYABLE_KINDS = {
    cls.slug for cls in errors.FederationRefusal.__subclasses__() if cls.retryable
} | {"directory-unavailable"}


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


#: What one message's delivery came to before its receipt is checked.
_Result = env.SignedReceipt | errors.FederationRefusal | _Refused | Exception


def _refusal(status: int, problem: Mapping[str, Any]) -> _Transient | _Refused:
    """A recipient's problem answer: worth another try later, or final."""
    if status in (408, 425, 429) or status >= 500:
        return _Transient(f"HTTP {status} {problem.get('type', '')}")
    kind = str(problem.get("type", "")).rsplit("/", 1)[-1] or f"http-{status}"
    if problem.get("retryable") is True or kind in _RETRYABLE_KINDS:
        return _Transient(f"{kind}: {problem.get('detail', '')}")
    return _Refused(kind, str(problem.get("detail", f"HTTP {status}")))


def _batch_entry(entry: Any) -> _Result:
    """One entry of a batch answer: a signed receipt, or the problem the message got alone."""
    if not isinstance(entry, dict):
        return _Transient("unreadable batch entry")
    if "receipt" in entry:
        try:
            return env.SignedReceipt.model_validate(entry)
        except (ValueError, TypeError) as exc:
            return _Transient(f"unreadable receipt: {exc}")
    status = entry.get("status")
    return _refusal(status if isinstance(status, int) else 400, entry)


async def _first_of(*events: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
