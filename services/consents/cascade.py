"""What a consent's withdrawal sets off beyond the consent itself.

DESIGN §5: ``POST /v1/consents/{id}/withdraw`` cascades: drafts and pending referrals under the
consent are revoked, every recipient that holds data under it is sent ``consent.withdrawn``
(and answers with a signed erasure receipt), and the journey moves to its withdrawal stage.

:func:`on_withdrawn` is called by :func:`services.consents.service.withdraw` after the consent is
marked withdrawn and its audit event written, in the same transaction. It announces the
withdrawal as the domain event ``consent.withdrawn``; the referrals package (revocation and
erasure) and the journeys package (the SOP's withdrawal stage) act on it, so what they write
commits or rolls back together with the withdrawal. A listener that fails makes the
withdrawal fail: it is refused rather than recorded without its consequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.consent import ConsentRecord, Narrowing
from kit.events import Events

WITHDRAWN = "consent.withdrawn"
NARROWED = "consent.narrowed"


@dataclass(frozen=True)
class Withdrawal:
    principal: Principal
    consent: ConsentRecord
    at: datetime


async def on_withdrawn(
    session: AsyncSession,
    *,
    events: Events,
    principal: Principal,
    consent: ConsentRecord,
    at: datetime,
) -> None:
    """Carry a withdrawal to everything that rests on ``consent`` (see the module doc)."""
    await events.emit(session, WITHDRAWN, Withdrawal(principal=principal, consent=consent, at=at))


@dataclass(frozen=True)
class Narrowed:
    """The person took part of a consent back; ``consent`` is what remains of it."""

    principal: Principal
    consent: ConsentRecord
    taken_back: Narrowing
    at: datetime


async def on_narrowed(
    session: AsyncSession,
    *,
    events: Events,
    principal: Principal,
    consent: ConsentRecord,
    taken_back: Narrowing,
    at: datetime,
) -> None:
    """Carry a narrowing to what rested on the part taken back, and only to that: referrals
    that depended on it are revoked and erased, journeys whose stage can no longer go on need
    attention. Everything else under the consent stands."""
    await events.emit(
        session,
        NARROWED,
        Narrowed(principal=principal, consent=consent, taken_back=taken_back, at=at),
    )
