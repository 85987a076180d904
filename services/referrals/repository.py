"""Every statement about referrals. A referral has one id across nodes and each agency holds its
own row; reads take the agency and return only its rows. The node's own sweeps (expiry,
retention, overdue receipts) work by row id across agencies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from kit.db.repository import Page, keyset_page
from services.agreements.models import AgreementRow
from services.consents.models import Consent
from services.federation.models import InboxMessage, OutboxMessage

from .models import BreakGlassGrant, Referral, ReferralData

Direction = Literal["outgoing", "incoming"]


def _get_for_statement(*, directed: bool, lock: bool) -> Select[Referral]:
    statement = select(Referral).where(
        Referral.referral_id == bindparam("referral_id"), Referral.agency == bindparam("agency")
    )
    if directed:
        statement = statement.where(Referral.direction == bindparam("direction"))
    return statement.with_for_update() if lock else statement


# The statements every referral request runs, built once: building one per call (and its
# cache key) cost more CPU than running it (issue 19).
_GET_FOR = {
    (directed, lock): _get_for_statement(directed=directed, lock=lock)
    for directed in (False, True)
    for lock in (False, True)
}
_WITH_DATA = (
    select(Referral, ReferralData)
    .outerjoin(ReferralData, ReferralData.referral_row == Referral.id)
    .where(Referral.referral_id == bindparam("referral_id"), Referral.agency == bindparam("agency"))
)


def _overdue_erasures(
    agreement_id: ColumnElement[str] | InstrumentedAttribute[str],
) -> Select[datetime | None]:
    """The oldest erasure receipt ``:recipient`` still owes ``:sender`` under the agreement."""
    return (
        select(Referral.erasure_due_at)
        .where(
            Referral.agency == bindparam("sender"),
            Referral.direction == "outgoing",
            Referral.counterpart == bindparam("recipient"),
            Referral.agreement_id == agreement_id,
            Referral.erasure_due_at.is_not(None),
            Referral.erasure_receipt.is_(None),
        )
        .order_by(Referral.erasure_due_at)
        .limit(1)
    )


_ERASURE_DUE = _overdue_erasures(bindparam("agreement_id"))


def _terms_statement(*, versioned: bool) -> Select[AgreementRow, Consent, datetime | None]:
    overdue = _overdue_erasures(AgreementRow.id).scalar_subquery()
    statement = (
        select(AgreementRow, Consent, overdue.label("erasure_due"))
        .select_from(AgreementRow)
        .outerjoin(
            Consent,
            and_(Consent.id == bindparam("consent_id"), Consent.agency == bindparam("sender")),
        )
        .where(AgreementRow.id == bindparam("agreement_id"))
    )
    if versioned:
        statement = statement.where(AgreementRow.version == bindparam("version"))
    return statement.order_by(AgreementRow.version.desc()).limit(1)


_TERMS = {versioned: _terms_statement(versioned=versioned) for versioned in (False, True)}


@dataclass(frozen=True)
class Terms:
    """What a referral's policy decision reads besides the case, read in one round trip."""

    agreement: AgreementRow
    consent: Consent | None
    erasure_due: datetime | None


async def terms_of(
    session: AsyncSession,
    *,
    sender: str,
    recipient: str,
    agreement_id: str,
    version: int | None,
    consent_id: uuid.UUID | None,
) -> Terms | None:
    """The agreement (``version``, or the newest), the sender's consent ``consent_id`` and the
    oldest erasure receipt ``recipient`` still owes ``sender`` under the agreement, in one
    statement; ``None`` when the agreement, or a consent asked for, is not found, so that the
    caller reads them one by one and refuses as it would have."""
    values: dict[str, Any] = {
        "sender": sender,
        "recipient": recipient,
        "agreement_id": agreement_id,
        "consent_id": consent_id,
    }
    if version is not None:
        values["version"] = version
    found = (await session.execute(_TERMS[version is not None], values)).first()
    if found is None or (consent_id is not None and found[1] is None):
        return None
    return Terms(agreement=found[0], consent=found[1], erasure_due=found[2])


async def get_for(
    session: AsyncSession,
    *,
    agency: str,
    referral_id: str,
    direction: Direction | None = None,
    lock: bool = False,
) -> Referral | None:
    values = {"referral_id": referral_id, "agency": agency}
    if direction is not None:
        values["direction"] = direction
    return (await session.scalars(_GET_FOR[direction is not None, lock], values)).first()


async def get_with_data(
    session: AsyncSession, *, agency: str, referral_id: str
) -> tuple[Referral | None, list[ReferralData]]:
    """The agency's referral and its sealed categories, in one round trip (a read needs both)."""
    values = {"referral_id": referral_id, "agency": agency}
    found = (await session.execute(_WITH_DATA, values)).all()
    if not found:
        return None, []
    return found[0][0], [data for _, data in found if data is not None]


async def by_message(session: AsyncSession, *, agency: str, referral_id: str) -> Referral | None:
    """The agency's row a settled outbox message speaks about, locked."""
    return await get_for(session, agency=agency, referral_id=referral_id, lock=True)


async def by_row_id(
    session: AsyncSession, row_id: uuid.UUID, *, lock: bool = False
) -> Referral | None:
    return await session.get(Referral, row_id, with_for_update=lock)


async def _ids(session: AsyncSession, *conditions: ColumnElement[bool]) -> list[uuid.UUID]:
    return list((await session.scalars(select(Referral.id).where(*conditions))).all())


# The sweeps (each visits ids, then changes each row in a transaction of its own).


async def past_respond_by(
    session: AsyncSession, *, now: datetime, statuses: Sequence[str]
) -> list[uuid.UUID]:
    return await _ids(
        session,
        Referral.respond_by.is_not(None),
        Referral.respond_by < now,
        Referral.status.in_(statuses),
    )


async def holding_content(session: AsyncSession, *, statuses: Sequence[str]) -> list[uuid.UUID]:
    """Closed referrals whose content is still held: the retention sweep's candidates."""
    return await _ids(
        session,
        Referral.status.in_(statuses),
        Referral.erased_at.is_(None),
        Referral.data_key_wrapped.is_not(None),
    )


async def erasure_receipt_overdue(session: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    """Outgoing referrals whose recipient owes its erasure receipt past the deadline and
    whose admins have not been told yet."""
    return await _ids(
        session,
        Referral.direction == "outgoing",
        Referral.erasure_due_at.is_not(None),
        Referral.erasure_due_at < now,
        Referral.erasure_receipt.is_(None),
        Referral.erasure_flagged_at.is_(None),
    )


async def page_for(
    session: AsyncSession,
    *,
    agency: str,
    direction: Direction | None,
    status: str | None,
    stage: str | None,
    cursor: str | None,
    limit: int,
) -> Page[Referral]:
    statement = select(Referral).where(Referral.agency == agency)
    if direction:
        statement = statement.where(Referral.direction == direction)
    if status:
        statement = statement.where(Referral.status == status)
    if stage:
        statement = statement.where(Referral.stage == stage)
    return await keyset_page(session, statement, Referral.id, cursor=cursor, limit=limit)


async def erasure_page(
    session: AsyncSession,
    *,
    agency: str,
    state: Literal["pending", "overdue", "confirmed"] | None,
    now: datetime,
    cursor: str | None,
    limit: int,
) -> Page[Referral]:
    """The agency's outgoing referrals whose recipients were asked to erase, in one state:
    ``confirmed`` (the signed receipt is in), ``overdue`` (past its deadline without it) or
    ``pending``."""
    statement = select(Referral).where(
        Referral.agency == agency,
        Referral.direction == "outgoing",
        Referral.erasure_requested_at.is_not(None),
    )
    if state == "confirmed":
        statement = statement.where(Referral.erasure_receipt.is_not(None))
    elif state == "overdue":
        statement = statement.where(
            Referral.erasure_receipt.is_(None), Referral.erasure_due_at <= now
        )
    elif state == "pending":
        statement = statement.where(
            Referral.erasure_receipt.is_(None),
            or_(Referral.erasure_due_at.is_(None), Referral.erasure_due_at > now),
        )
    return await keyset_page(session, statement, Referral.id, cursor=cursor, limit=limit)


async def outgoing_under_consent(
    session: AsyncSession, *, agency: str, consent_id: str
) -> Sequence[Referral]:
    return (
        await session.scalars(
            select(Referral)
            .where(
                Referral.agency == agency,
                Referral.direction == "outgoing",
                Referral.consent_id == consent_id,
            )
            .with_for_update()
        )
    ).all()


async def erasure_due(
    session: AsyncSession, *, sender: str, recipient: str, agreement_id: str
) -> datetime | None:
    """The oldest erasure receipt ``recipient`` still owes ``sender`` under the agreement."""
    values = {"sender": sender, "recipient": recipient, "agreement_id": agreement_id}
    return (await session.scalars(_ERASURE_DUE, values)).first()


async def add(session: AsyncSession, row: Referral) -> Referral:
    session.add(row)
    await session.flush()
    return row


# --- content ----------------------------------------------------------------------------------


async def data_of(session: AsyncSession, row: Referral) -> list[ReferralData]:
    return list(
        (
            await session.scalars(select(ReferralData).where(ReferralData.referral_row == row.id))
        ).all()
    )


async def add_data(session: AsyncSession, row: Referral, sealed: dict[str, bytes]) -> None:
    for category, value in sealed.items():
        session.add(ReferralData(referral_row=row.id, category=category, sealed=value))
    await session.flush()


async def delete_data(session: AsyncSession, row: Referral) -> list[str]:
    """Delete the row's sealed categories; the categories there were."""
    categories = sorted(
        (
            await session.scalars(
                select(ReferralData.category).where(ReferralData.referral_row == row.id)
            )
        ).all()
    )
    await session.execute(delete(ReferralData).where(ReferralData.referral_row == row.id))
    return categories


async def granted(session: AsyncSession, row: Referral, *, actor: str, now: datetime) -> list[str]:
    """Categories a break-glass grant opens for ``actor`` now."""
    grants = await session.scalars(
        select(BreakGlassGrant.category).where(
            BreakGlassGrant.referral_row == row.id,
            BreakGlassGrant.actor == actor,
            BreakGlassGrant.expires_at > now,
        )
    )
    return list(grants.all())


async def add_grant(session: AsyncSession, grant: BreakGlassGrant) -> BreakGlassGrant:
    session.add(grant)
    await session.flush()
    return grant


# --- evidence -----------------------------------------------------------------------------------


async def stored_envelope(
    session: AsyncSession, row: Referral
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The envelope that carried the referral as this side stored it (the evidence), and the
    receipts this side holds for it; None before anything left or arrived."""
    if row.message_id is None:
        return None
    if row.direction == "outgoing":
        sent = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.message_id == row.message_id)
            )
        ).first()
        if sent is None:
            return None
        return sent.envelope, [sent.receipt] if sent.receipt else []
    received = (
        await session.scalars(select(InboxMessage).where(InboxMessage.message_id == row.message_id))
    ).first()
    if received is None:
        return None
    return received.envelope, [received.receipt]
