"""Writing the audit log: one function every state change and every read of personal data
calls, in the same transaction as the change it records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.audit_chain import GENESIS_HASH, event_hash
from contracts.envelope import format_timestamp
from services.db.base import new_id, utcnow

from .models import AuditEvent, AuditHead

NODE_ACTOR = "node"


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


async def _lock_head(session: AsyncSession, agency: str) -> AuditHead:
    head = (
        await session.scalars(select(AuditHead).where(AuditHead.agency == agency).with_for_update())
    ).first()
    if head is None:
        head = AuditHead(agency=agency, seq=0, hash=GENESIS_HASH)
        session.add(head)
        await session.flush()
    return head


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
    head = await _lock_head(session, agency)
    event = AuditEvent(
        agency=agency,
        seq=head.seq + 1,
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
        prev_hash=head.hash,
        hash="",
    )
    event.id = new_id()
    event.hash = event_hash(
        agency=agency, seq=event.seq, prev_hash=head.hash, content=event_content(event)
    )
    session.add(event)
    head.seq, head.hash = event.seq, event.hash
    await session.flush()
    return event
