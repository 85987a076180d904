"""What a consent's withdrawal sets off beyond the consent itself: the hook for the cascade.

DESIGN §5: ``POST /v1/consents/{id}/withdraw`` cascades: drafts and pending referrals under the
consent are revoked, every recipient that holds data under it is sent ``consent.withdrawn``
(and answers with a signed erasure receipt), and the journey moves to its withdrawal stage.

:func:`on_withdrawn` is called by :func:`services.consents.service.withdraw` after the consent is
marked withdrawn and its audit event written, in the same transaction, so whatever it adds
(referral status changes, outbox messages, journey outcomes, their audit events) commits or
rolls back together with the withdrawal. Referrals, the outbox writer and journeys do not exist
on this node yet, so there is nothing for it to do today; the referrals work extends it. It
must not commit, and a failure in it must raise, so the withdrawal is refused rather than
recorded without its consequences.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.consent import ConsentRecord


async def on_withdrawn(
    session: AsyncSession,  # noqa: ARG001 - the cascade writes through it once referrals exist
    *,
    principal: Principal,  # noqa: ARG001 - recorded as the actor of the cascade's audit events
    consent: ConsentRecord,  # noqa: ARG001 - names the referrals and recipients to reach
    at: datetime,  # noqa: ARG001 - the withdrawal time every recipient is told
) -> None:
    """Carry a withdrawal to everything that rests on ``consent`` (see the module doc)."""
    return None
