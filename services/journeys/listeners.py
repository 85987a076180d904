"""What a journey does when something happens elsewhere in the node: the stage's referral was
completed by the acting agency, or the person withdrew their consent. Declared here, where
they live; the app subscribes them to the node's events (``SUBSCRIPTIONS``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from kit.errors import AccordError
from kit.events import Subscriptions
from services.cases.service import PROFILE_CHANGED, ProfileChanged
from services.consents.cascade import WITHDRAWN, Withdrawal
from services.federation.runtime import Federation
from services.referrals.messages import COMPLETED_EVENT, Completed
from services.referrals.service import APPROVING, Approving
from sop.engine import Decision
from sop.results import facts_from_results

from . import repository, service


def _owner(agency: str) -> Principal:
    """The journey's own agency acting through the node (after an answer from elsewhere)."""
    return Principal(
        agency=agency,
        kind="client",
        subject="node",
        client_id="node",
        roles=frozenset({"caseworker"}),
        data_roles=frozenset(),
        scopes=frozenset(),
        token_id="node",
    )


async def on_referral_completed(
    session: AsyncSession, done: Completed, *, federation: Federation
) -> None:
    """The acting agency completed the stage's referral: its outcome advances the journey."""
    row = done.row
    if row.journey_id is None or row.stage is None or row.outcome is None:
        return
    journey = await repository.lock(session, uuid.UUID(row.journey_id))
    if journey is None or journey.stage != row.stage or journey.ended:
        return
    try:
        await service.advance(
            session,
            federation=federation,
            principal=_owner(journey.agency),
            journey=journey,
            stage=row.stage,
            outcome=row.outcome,
            facts=facts_from_results(done.results),
            by_agency=row.counterpart,
            decision=Decision(decided_by=done.decided_by, decision_ref=done.decision_ref)
            if done.decided_by
            else None,
        )
    except AccordError as refused:
        journey.blocked = [
            {
                "code": refused.slug,
                "message": refused.detail,
                **({"missing": refused.extra["missing"]} if "missing" in refused.extra else {}),
            }
        ]
        await service.announce(session, journey, "blocked")


async def on_consent_withdrawn(
    session: AsyncSession, withdrawal: Withdrawal, *, federation: Federation
) -> None:
    """AVRR principle (ii): the person may change their mind at any time; every open journey
    of the case ends in its withdrawal stage."""
    case_id = withdrawal.consent.case_id
    if case_id is None:
        return
    principal = withdrawal.principal
    for journey in await repository.open_of_case(
        session, agency=principal.agency, case_id=uuid.UUID(case_id)
    ):
        if not await service.withdrawable(session, principal=principal, journey=journey):
            continue  # the host authority's own process under legal obligation: its record stays
        await service.advance(
            session,
            federation=federation,
            principal=principal,
            journey=journey,
            stage=journey.stage,
            outcome=service.WITHDRAW,
            facts={},
            by_agency=principal.agency,
        )


async def on_profile_changed(
    session: AsyncSession, changed: ProfileChanged, *, federation: Federation
) -> None:
    """DESIGN §9: a fact that turns up late (a trafficking victim identified at travel
    documents) takes every open journey of the case to the safeguard it requires, at once."""
    principal = changed.principal
    for journey in await repository.open_of_case(
        session, agency=principal.agency, case_id=changed.case_id
    ):
        await service.follow_facts(
            session, federation=federation, principal=principal, journey=journey
        )


async def on_referral_approving(
    session: AsyncSession, approving: Approving, *, federation: Federation
) -> None:
    """The runtime guard once more as a departure's referral is approved (DESIGN §9)."""
    row = approving.row
    if row.journey_id is None or row.stage is None:
        return
    journey = await repository.lock(session, uuid.UUID(row.journey_id))
    if journey is None or journey.agency != approving.principal.agency:
        return
    await service.check_before_approval(
        session,
        principal=approving.principal,
        journey=journey,
        stage=row.stage,
        federation=federation,
    )


SUBSCRIPTIONS: Subscriptions = {
    COMPLETED_EVENT: on_referral_completed,
    WITHDRAWN: on_consent_withdrawn,
    PROFILE_CHANGED: on_profile_changed,
    APPROVING: on_referral_approving,
}
