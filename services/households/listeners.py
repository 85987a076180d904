"""What households do when something happens elsewhere in the node: a departure's referral is
being approved. Declared here; the app subscribes them (``SUBSCRIPTIONS``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from kit.events import Subscriptions
from services.federation.runtime import Federation
from services.journeys import repository as journeys
from services.programmes import service as programmes
from services.referrals.service import APPROVING, Approving
from sop.schema import StageKind

from . import service


async def on_referral_approving(
    session: AsyncSession, approving: Approving, *, federation: Federation
) -> None:
    """Family unity (CRC art. 9) as a departure's referral is approved: refused with
    ``family-separation`` if it would separate a child from a parent or guardian of their
    household, and the approval rolls back with it."""
    row, principal = approving.row, approving.principal
    if row.journey_id is None or row.stage is None or row.case_id is None:
        return
    journey = await journeys.get_for(
        session, agency=principal.agency, journey_id=uuid.UUID(row.journey_id)
    )
    if journey is None:
        return
    programme = await programmes.get(
        session, principal=principal, programme_id=journey.programme_id
    )
    definition = await programmes.definition_of(session, programme)
    if StageKind.DEPARTURE not in service.stage_kinds(definition, row.stage):
        return
    await service.check_departure(
        session, federation=federation, principal=principal, case_id=row.case_id
    )


SUBSCRIPTIONS: Subscriptions = {APPROVING: on_referral_approving}
