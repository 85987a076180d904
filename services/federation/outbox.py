"""Sending: seal and sign a message, write it to the outbox in the caller's transaction, and
deliver it later, in order per recipient, with retries, backoff and jitter (DESIGN §4)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import envelope as env
from contracts.delivery import encode_attempt, make_attempt
from contracts.directory import DirectoryError
from contracts.keys import KeyProblem
from kit.db.base import utcnow
from kit.db.session import read_only
from kit.observability.logging import get_logger

from . import errors, incidents
from .inbox import receive
from .models import OutboxChannel, OutboxMessage

if TYPE_CHECKING:
    from .runtime import Federation

log = get_logger("accord.outbox")
ATTEMPT_HEADER = "Accord-Attempt"
MESSAGES_PATH = "/federation/v1/messages"


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
    session.add(row)
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(OutboxChannel)
        .values(sender=header.from_, recipient=header.to, next_attempt_at=utcnow(), failures=0)
        .on_conflict_do_nothing(index_elements=["sender", "recipient"])
    )
    await session.flush()
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
    """

    BATCH = 100

    def __init__(self, federation: Federation) -> None:
        self.federation = federation
        self.owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"
        # Renewed with every message settled, so it can be short: a worker killed mid-channel
        # blocks that channel for one lease at most, not for the whole batch.
        self.lease = timedelta(seconds=federation.settings.delivery_lease_seconds)

    @property
    def db(self) -> Any:
        return self.federation.db

    async def run(self, stop: asyncio.Event) -> None:
        poll = self.federation.settings.outbox_poll_seconds
        while not stop.is_set():
            try:
                progressed = await self.deliver_round()
            except Exception:
                log.exception("delivery_round_failed")
                progressed = 0
            if not progressed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=poll)

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
                            .limit(20)
                        )
                    ).all()
                )
            if not queue:
                break
            for message in queue:
                outcome = await self._attempt(message)
                still_ours = await self._settle(sender, recipient, message.position, outcome)
                if isinstance(outcome, Retry) or not still_ours:
                    return settled
                settled += 1
        await self._release(sender, recipient)
        return settled

    async def _attempt(self, message: OutboxMessage) -> Outcome:
        federation = self.federation
        envelope = env.Envelope.model_validate(message.envelope)
        now = utcnow()
        if federation.gates:
            async with self.db.sessions() as session:
                await read_only(session)
                for gate in federation.gates:
                    reason = await gate(session, envelope)
                    if reason is not None:
                        return Cancelled(reason)
        try:
            signing = await federation.keys.signing(envelope.header.from_, at=now)
            hosted_here = await federation.hosts(envelope.header.to)
            attempt = encode_attempt(make_attempt(envelope, signing, at=now))
            if hosted_here:
                receipt = await self._deliver_locally(envelope, attempt)
            else:
                receipt = await self._deliver_over_http(envelope, attempt)
            return self._check_receipt(envelope, receipt)
        except errors.FederationRefusal as refusal:
            if refusal.retryable:
                return Retry(f"{refusal.slug}: {refusal.detail}")
            return Rejected(refusal.slug, refusal.detail)
        except _Refused as refused:
            return Rejected(refused.kind, refused.detail)
        except (httpx.HTTPError, OSError, _Transient, DirectoryError, KeyProblem) as exc:
            return Retry(f"{type(exc).__name__}: {exc}")

    async def _deliver_locally(self, envelope: env.Envelope, attempt: str) -> env.SignedReceipt:
        header = envelope.header
        async with self.db.sessions() as session:
            try:
                async with session.begin():
                    receipt, first = await receive(session, self.federation, envelope, attempt)
            except errors.FederationRefusal as refusal:
                await incidents.record(
                    self.db,
                    agency=header.to,
                    direction="in",
                    kind=refusal.slug,
                    peer=header.from_,
                    message_id=header.id,
                    detail=refusal.detail,
                )
                raise
        reasons = incidents.refusal_of(receipt)
        if first and reasons:
            await incidents.record_refused(self.db, header, reasons)
        return receipt

    async def _deliver_over_http(self, envelope: env.Envelope, attempt: str) -> env.SignedReceipt:
        directory = self.federation.directory.require()
        url = directory.node_url(envelope.header.to).rstrip("/") + MESSAGES_PATH
        response = await self.federation.http.post(
            url,
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
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code} {problem.get('type', '')}")
        kind = str(problem.get("type", "")).rsplit("/", 1)[-1] or f"http-{response.status_code}"
        if problem.get("retryable") is True or kind in _RETRYABLE_KINDS:
            raise _Transient(f"{kind}: {problem.get('detail', '')}")
        raise _Refused(kind, str(problem.get("detail", f"HTTP {response.status_code}")))

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

    async def _settle(self, sender: str, recipient: str, position: int, outcome: Outcome) -> bool:
        """Record the outcome if this worker still holds the channel's lease."""
        now = utcnow()
        settings = self.federation.settings
        async with self.db.sessions.begin() as session:
            channel = await session.get(OutboxChannel, (sender, recipient))
            message = await session.get(OutboxMessage, position)
            if channel is None or message is None or channel.lease_owner != self.owner:
                return False
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
        return True

    async def _release(self, sender: str, recipient: str) -> None:
        async with self.db.sessions.begin() as session:
            channel = await session.get(OutboxChannel, (sender, recipient))
            if channel is not None and channel.lease_owner == self.owner:
                channel.lease_owner = None
                channel.leased_until = None


class _Transient(Exception):
    pass


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
