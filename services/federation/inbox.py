"""Receiving a message: every check of DESIGN §4, then stored once and handed to its handler.

The same function serves ``POST /federation/v1/messages`` and deliveries between two agencies
of one node, so both paths run every check.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import envelope as env
from contracts.delivery import (
    AttemptMismatch,
    MalformedAttempt,
    check_envelope_time,
    decode_attempt,
    verify_attempt,
)
from contracts.directory import UnknownMember
from contracts.keys import KeyExpired, KeyNotYetValid, KeyProblem, UnknownKey
from contracts.patterns import pattern_message
from kit.db.base import utcnow

from . import errors
from .models import InboxMessage

if TYPE_CHECKING:
    from .runtime import Federation


@dataclass(frozen=True)
class Received:
    """What a handler gets: the verified envelope and its stored row, in the receiving
    transaction, so the handler's effect commits with the message or not at all."""

    envelope: env.Envelope
    inbox: InboxMessage
    federation: Federation
    now: datetime


Handler = Callable[[AsyncSession, Received], Awaitable[None]]


def _validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {
            "location": ".".join(str(p) for p in e["loc"]),
            "message": pattern_message(e) or e["msg"],
            "type": e["type"],
        }
        for e in exc.errors()
    ]


def parse_envelope(raw: bytes | Mapping[str, Any]) -> env.Envelope:
    try:
        if isinstance(raw, bytes):
            return env.Envelope.model_validate_json(raw)
        return env.Envelope.model_validate(raw)
    except ValidationError as exc:
        raise errors.MalformedEnvelope(
            "The body is not a valid envelope.", extra={"errors": _validation_errors(exc)}
        ) from exc


#: The most envelopes one ``POST /federation/v1/batches`` carries (DESIGN §4).
MAX_BATCH = 100


class Batch(BaseModel):
    """``{"envelopes": [...], "attempts": [...]}``: envelopes of one sender→recipient channel,
    in order, and for each the ``Accord-Attempt`` value it would carry if sent alone."""

    model_config = ConfigDict(extra="forbid")

    envelopes: list[env.Envelope] = Field(min_length=1, max_length=MAX_BATCH)
    attempts: list[str] = Field(min_length=1, max_length=MAX_BATCH)


def parse_batch(raw: bytes) -> Batch:
    """The batch, or the problem that makes the whole of it invalid: not of this shape (400),
    more than :data:`MAX_BATCH` envelopes (413), or envelopes of several channels (400)."""
    try:
        batch = Batch.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "too_long" and len(e["loc"]) == 1 for e in exc.errors()):
            raise errors.BatchTooLarge(
                f"The batch carries more than {MAX_BATCH} envelopes."
            ) from exc
        raise errors.MalformedBatch(
            "The body is not a valid batch.", extra={"errors": _validation_errors(exc)}
        ) from exc
    if len(batch.attempts) != len(batch.envelopes):
        raise errors.MalformedBatch(
            "The batch needs one delivery attempt per envelope, in the same order.",
            extra={
                "errors": [
                    {
                        "location": "attempts",
                        "message": f"{len(batch.attempts)} attempts for "
                        f"{len(batch.envelopes)} envelopes.",
                        "type": "length_mismatch",
                    }
                ]
            },
        )
    first = batch.envelopes[0].header
    if any((e.header.from_, e.header.to) != (first.from_, first.to) for e in batch.envelopes):
        raise errors.MixedBatch(
            f"Every envelope of a batch goes from {first.from_} to {first.to}, like the first."
        )
    return batch


#: What one envelope of a batch came to: its signed receipt (accepted, or refusing its content)
#: and whether this was the first time, or the refusal a single message would have got.
BatchResult = tuple[env.SignedReceipt, bool] | errors.FederationRefusal


async def receive_batch(
    session: AsyncSession,
    federation: Federation,
    items: Sequence[tuple[env.Envelope, str | None]],
) -> list[BatchResult]:
    """Receive each ``(envelope, attempt)`` in order, each exactly as :func:`receive` would
    alone, in the caller's transaction: a refused envelope leaves nothing behind and the others
    stand. After a refusal that may pass later (a key not
    yet published, a clock off), the rest are :class:`errors.NotAttempted` and not looked at:
    the channel is delivered in order, and a later message never lands before an earlier one.
    """
    results: list[BatchResult] = []
    held_back: errors.FederationRefusal | None = None
    for envelope, attempt in items:
        if held_back is not None:
            results.append(
                errors.NotAttempted(
                    f"Message {envelope.header.id} waits for an earlier one ({held_back.slug})."
                )
            )
            continue
        try:
            # No savepoint of its own: :func:`receive` writes only inside savepoints (the
            # evidence with the handler's work, or the evidence of a refusal), so a refused
            # envelope leaves nothing behind already; another one here cost two round trips
            # per envelope (issue 19).
            results.append(await receive(session, federation, envelope, attempt))
        except errors.FederationRefusal as refusal:
            results.append(refusal)
            if refusal.retryable:
                held_back = refusal
    return results


async def receive(
    session: AsyncSession,
    federation: Federation,
    envelope: env.Envelope,
    attempt: str | None,
    *,
    now: datetime | None = None,
) -> tuple[env.SignedReceipt, bool]:
    """Verify, store once, apply; returns the signed receipt and whether this was the first
    time. The receipt refuses the message (``accepted: false``) when its content is refused
    (:class:`errors.ContentRefused`). Raises a ``FederationRefusal`` subclass naming the
    reason when the message does not verify, or a retryable one when it may pass later."""
    now = now or utcnow()
    header = envelope.header
    skew = timedelta(seconds=federation.settings.federation_skew_seconds)
    if not await federation.hosts(header.to):
        raise errors.RecipientNotHosted(f"Agency {header.to} is not hosted on this node.")
    directory = federation.directory.require()
    try:
        member = directory.member(header.from_)
    except UnknownMember as exc:
        raise errors.UnknownSender(
            f"{header.from_} is not in directory {directory.version}."
        ) from exc
    try:
        sender_key = member.key(header.kids.sig, at=header.sent_at, use="sig")
        # Valid when it signed is not enough: a key past its expiry signs nothing new here.
        sender_key.check_usable_at(now)
    except (KeyExpired, KeyNotYetValid) as exc:
        raise errors.SigningKeyNotValid(f"Key {header.kids.sig}: {exc}") from exc
    except (UnknownKey, KeyProblem) as exc:
        raise errors.UnknownSigningKey(
            f"{header.from_} publishes no signing key {header.kids.sig}."
        ) from exc
    try:
        env.verify(envelope, sender_key)
    except (env.BadSignature, env.SignerMismatch, env.DigestMismatch) as exc:
        raise errors.BadSignature(str(exc)) from exc
    if attempt is None:
        raise errors.StaleAttempt("The Accord-Attempt header is missing.")
    try:
        signed_attempt = decode_attempt(attempt)
        # The attempt is signed with the sender's key of today, which after a rotation may
        # not be the key that signed the (older, queued) message.
        attempt_key = member.key(signed_attempt.signature.kid, at=now, use="sig")
        verify_attempt(signed_attempt, envelope, attempt_key, now=now, skew=skew)
    except (
        MalformedAttempt,
        AttemptMismatch,
        KeyProblem,
        env.BadSignature,
        env.SignerMismatch,
    ) as exc:
        raise errors.StaleAttempt(f"The delivery attempt does not hold: {exc}") from exc
    except env.ClockSkew as exc:
        raise errors.StaleAttempt(str(exc)) from exc
    try:
        check_envelope_time(header, now=now, skew=skew)
    except env.MessageExpired as exc:
        raise errors.MessageExpired(str(exc)) from exc
    except env.ClockSkew as exc:
        raise errors.FutureMessage(str(exc)) from exc

    digest = env.envelope_digest(envelope)
    # A repeat is found by the insert below failing on the unique message id, not by a read
    # first: a new message (nearly all of them) costs one round trip less.
    signing = await federation.keys.signing(header.to, at=now)
    receipt = env.sign_receipt(
        env.delivery_receipt(envelope, by=header.to, received_at=now), signing
    )
    handler = federation.handlers.get(header.type)
    # The evidence and what the handler makes of the message share one savepoint (one round
    # trip each way, not two): a refusal rolls back both, and refused content is then stored
    # as evidence alone, below.
    try:
        async with session.begin_nested():
            row = _evidence(envelope, digest, receipt, now)
            session.add(row)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise _AlreadyStored from exc
            if handler is None:
                raise errors.UnknownMessageType(
                    f"This node does not handle {header.type} messages."
                )
            try:
                await handler(
                    session, Received(envelope=envelope, inbox=row, federation=federation, now=now)
                )
            except ValidationError as exc:
                # A signed message with a field its handler cannot read is refused like any
                # other content, never answered with a 500.
                raise errors.ContentRefused.because(
                    [("malformed_field", e["message"]) for e in _validation_errors(exc)]
                ) from exc
    except _AlreadyStored:
        # Received before (a retry), or the same message arrived twice at once and the other
        # copy won: what is stored counts.
        return await _stored_receipt(session, header.id, digest), False
    except errors.FederationRefusal as refusal:
        if refusal.retryable or not isinstance(refusal, errors.ContentRefused):
            raise
        # Refused for its content: what the handler wrote is rolled back, and the evidence is
        # stored with a signed refusal receipt, which repeats are answered with too.
        refused = env.sign_receipt(
            env.refusal_receipt(
                envelope, by=header.to, received_at=now, reasons=refusal.refusal_reasons()
            ),
            signing,
        )
        try:
            async with session.begin_nested():
                session.add(_evidence(envelope, digest, refused, now, accepted=False))
                await session.flush()
        except IntegrityError:
            return await _stored_receipt(session, header.id, digest), False
        return refused, True
    return receipt, True


class _AlreadyStored(Exception):
    pass


def _evidence(
    envelope: env.Envelope,
    digest: str,
    receipt: env.SignedReceipt,
    now: datetime,
    *,
    accepted: bool = True,
) -> InboxMessage:
    """The stored row. Only the evidence is kept: a handler re-seals what it keeps under a data
    key of its own, so the sealed content never stays here as a second copy erasure could
    miss."""
    header = envelope.header
    return InboxMessage(
        message_id=header.id,
        recipient=header.to,
        sender=header.from_,
        type=header.type,
        digest=digest,
        envelope=envelope.evidence().model_dump(mode="json"),
        receipt=receipt.model_dump(mode="json"),
        accepted=accepted,
        received_at=now,
    )


async def _stored_receipt(session: AsyncSession, message_id: str, digest: str) -> env.SignedReceipt:
    stored = await _stored(session, message_id)
    assert stored is not None  # noqa: S101 - the conflicting row exists
    return _repeat(stored, digest)


async def _stored(session: AsyncSession, message_id: str) -> InboxMessage | None:
    return (
        await session.scalars(select(InboxMessage).where(InboxMessage.message_id == message_id))
    ).first()


def _repeat(stored: InboxMessage, digest: str) -> env.SignedReceipt:
    if stored.digest != digest:
        raise errors.MessageIdReused(
            f"Message {stored.message_id} was received before with other content."
        )
    return env.SignedReceipt.model_validate(stored.receipt)
