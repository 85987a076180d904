"""The audit log: one ``record()`` every state change and every read of personal data calls, in
the same transaction as the change it records; signed checkpoints; verification (DESIGN §8).

When checkpoints are written: not inside ``record()``. Signing needs the master key and the
agency's private key, which the many callers of ``record()`` do not hold, and it would lengthen
the time every writer of the agency waits on the head lock. Instead :func:`checkpoint_due`
runs periodically (``services.audit.worker``, in every API process) and checkpoints each chain
whose head has moved ``audit_checkpoint_every`` events, or any event at all and
``audit_checkpoint_max_age_seconds``, past its newest checkpoint; ``POST /v1/audit/checkpoints``
writes one at once. Checkpointing locks the head and is idempotent per sequence number, so
processes racing on the same chain write one checkpoint; a crash only delays the next one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.audit_chain import (
    ChainEvent,
    ChainHead,
    ChainReport,
    Checkpoint,
    SignedCheckpoint,
    event_hash,
    sign_checkpoint,
    verify_chain,
)
from contracts.envelope import SignatureBlock, format_timestamp
from contracts.keys import KeyProblem
from kit.db.base import new_id, utcnow
from kit.errors import Conflict
from kit.observability.logging import get_logger
from services.keys import store as agency_keys

from . import repository
from .models import AuditCheckpoint, AuditEvent

log = get_logger("accord.audit")

NODE_ACTOR = "node"
CHECKPOINT_ACTION = "audit.checkpoint"


class NoSigningKey(Conflict):
    slug = "no-signing-key"
    title = "The agency has no signing key"
    explanation = (
        "The agency holds no Ed25519 key valid now, so nothing can be signed on its behalf. An "
        "operator gives it keys with `accord init` (or rotates them with `accord keys rotate`)."
    )


def actor_of(principal: Principal | None) -> str:
    if principal is None:
        return NODE_ACTOR
    if principal.kind == "user":
        return f"user:{principal.subject}"
    return f"client:{principal.client_id}"


def event_content(event: AuditEvent) -> dict[str, Any]:
    """What the hash covers: every column but the chain's own (seq, prev_hash, hash, id)."""
    return {
        "id": str(event.id),
        "at": format_timestamp(event.at),
        "actor": event.actor,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "case_id": event.case_id,
        "referral_id": event.referral_id,
        "categories": list(event.categories),
        "purpose": event.purpose,
        "detail": dict(event.detail),
        "break_glass": event.break_glass,
    }


@dataclass(frozen=True)
class Subject:
    """What an audit event is about: its type and id, and the case it concerns, if one."""

    type: str
    id: object
    case_id: object | None = None


async def record_by(
    session: AsyncSession,
    principal: Principal,
    action: str,
    subject: Subject,
    *,
    categories: Iterable[str] = (),
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """An event by ``principal`` at its own agency: how most changes and reads are recorded.

    Who, did what, to what: read as a sentence at the call, hence positional (the one
    exception to keyword-only service arguments)."""
    return await record(
        session,
        agency=principal.agency,
        principal=principal,
        action=action,
        subject_type=subject.type,
        subject_id=subject.id,
        case_id=subject.case_id,
        categories=categories,
        detail=detail,
    )


async def record(
    session: AsyncSession,
    *,
    agency: str,
    principal: Principal | None,
    action: str,
    subject_type: str,
    subject_id: object,
    case_id: object | None = None,
    referral_id: object | None = None,
    categories: Iterable[str] = (),
    purpose: str | None = None,
    detail: Mapping[str, Any] | None = None,
    break_glass: bool = False,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event to ``agency``'s chain. Nothing personal belongs in ``detail``."""
    head_seq, head_hash = await repository.locked_head(session, agency)
    event = AuditEvent(
        agency=agency,
        seq=head_seq + 1,
        at=(at or utcnow()).replace(microsecond=0),
        actor=actor_of(principal),
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        case_id=str(case_id) if case_id is not None else None,
        referral_id=str(referral_id) if referral_id is not None else None,
        categories=sorted(set(categories)),
        purpose=purpose,
        detail=dict(detail or {}),
        break_glass=break_glass,
        prev_hash=head_hash,
        hash="",
    )
    event.id = new_id()
    event.hash = event_hash(
        agency=agency, seq=event.seq, prev_hash=head_hash, content=event_content(event)
    )
    await repository.append(session, event)
    return event


# --- checkpoints ----------------------------------------------------------------------------


def signed_checkpoint(row: AuditCheckpoint) -> SignedCheckpoint:
    return SignedCheckpoint(
        agency=row.agency,
        seq=row.seq,
        hash=row.hash,
        at=row.at,
        signature=SignatureBlock(kid=row.kid, value=row.signature),
    )


def _document(row: AuditCheckpoint) -> dict[str, Any]:
    # Handed to the verifier unparsed: a row someone altered into something malformed must be
    # reported as a bad checkpoint, not fail the whole verification.
    return {
        "agency": row.agency,
        "seq": row.seq,
        "hash": row.hash,
        "at": format_timestamp(row.at),
        "signature": {"kid": row.kid, "alg": "EdDSA", "value": row.signature},
    }


async def write_checkpoint(
    session: AsyncSession, *, master_key: bytes, agency: str, now: datetime | None = None
) -> AuditCheckpoint | None:
    """Sign a checkpoint of ``agency``'s head; ``None`` when the chain is empty or its head
    is checkpointed already (by another process, say).

    Locks the head, so no event is appended between reading it and signing it.
    """
    head = await repository.lock_head(session, agency)
    if head.seq == 0 or await repository.checkpoint_at(session, agency, head.seq) is not None:
        return None
    at = (now or utcnow()).replace(microsecond=0)
    try:
        key = await agency_keys.signing_key(session, master_key=master_key, agency=agency, at=at)
        signed = sign_checkpoint(
            Checkpoint(agency=agency, seq=head.seq, hash=head.hash, at=at), key
        )
    except KeyProblem as exc:
        raise NoSigningKey(f"{agency} has no signing key valid now, so it cannot sign.") from exc
    row = AuditCheckpoint(
        agency=agency,
        seq=signed.seq,
        hash=signed.hash,
        at=signed.at,
        kid=signed.signature.kid,
        signature=signed.signature.value,
    )
    await repository.add_checkpoint(session, row)
    log.info("audit_checkpoint_signed", agency=agency, seq=row.seq, kid=row.kid)
    return row


async def checkpoint_on_request(
    session: AsyncSession, *, master_key: bytes, principal: Principal
) -> AuditCheckpoint:
    """``POST /v1/audit/checkpoints``: record who asked, then checkpoint the head that includes
    that record, so a checkpoint made on demand always covers the newest event."""
    await record(
        session,
        agency=principal.agency,
        principal=principal,
        action=CHECKPOINT_ACTION,
        subject_type="audit_chain",
        subject_id=principal.agency,
    )
    row = await write_checkpoint(session, master_key=master_key, agency=principal.agency)
    if row is None:  # pragma: no cover - the record above moved the head past any checkpoint
        raise RuntimeError("the head did not move")
    return row


async def checkpoint_due(
    session: AsyncSession,
    *,
    master_key: bytes,
    every: int,
    max_age: timedelta,
    now: datetime | None = None,
) -> list[AuditCheckpoint]:
    """Checkpoint every chain ``every`` events past its newest checkpoint, or with any new
    event once that checkpoint is ``max_age`` old. Writes no audit event itself, or the chain
    would never stop moving."""
    now = now or utcnow()
    written = []
    for chain in await repository.progress(session):
        behind = chain.head_seq - chain.checkpoint_seq
        stale = chain.checkpoint_at is None or now - chain.checkpoint_at >= max_age
        if behind >= every or (behind > 0 and stale):
            try:
                row = await write_checkpoint(
                    session, master_key=master_key, agency=chain.agency, now=now
                )
            except NoSigningKey:
                log.warning("audit_checkpoint_no_key", agency=chain.agency)
                continue
            if row is not None:
                written.append(row)
    return written


# --- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """A chain's verification, with what the stored rows add to the pure report."""

    report: ChainReport
    #: The head the node recorded.
    head: ChainHead | None
    #: The id of the stored event at the first bad sequence number, when there is one.
    event_id: str | None
    checked_at: datetime


async def verify(session: AsyncSession, *, master_key: bytes, agency: str) -> Verification:
    """Verify ``agency``'s chain as stored, against its signed checkpoints. Reads only.

    Checkpoints are checked with keys derived from the master-key-wrapped private keys
    (``authenticated_signing_keys``), so a key planted in the database is not trusted.
    """
    rows = await repository.chain(session, agency)
    head_row = await repository.head(session, agency)
    checkpoints = await repository.checkpoints(session, agency)
    keys = await agency_keys.authenticated_signing_keys(
        session, master_key=master_key, agency=agency
    )
    events = [
        ChainEvent(seq=row.seq, prev_hash=row.prev_hash, hash=row.hash, content=event_content(row))
        for row in rows
    ]
    head = ChainHead(head_row.seq, head_row.hash) if head_row is not None else None
    report = verify_chain(
        agency, events, head=head, checkpoints=[_document(c) for c in checkpoints], keys=keys
    )
    event_id = None
    if report.finding is not None:
        event_id = next((str(r.id) for r in rows if r.seq == report.finding.seq), None)
        log.warning(
            "audit_chain_invalid",
            agency=agency,
            problem=report.finding.problem.value,
            seq=report.finding.seq,
        )
    return Verification(report=report, head=head, event_id=event_id, checked_at=utcnow())
