"""What a journey does when something happens elsewhere in the node: the stage's referral was
completed by the acting agency, or the person withdrew their consent. Declared here, where
they live; the app subscribes them to the node's events (``SUBSCRIPTIONS``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.referrals import ReferralStatus
from kit.errors import AccordError
from kit.events import Subscriptions
from services.cases.service import PROFILE_CHANGED, ProfileChanged
from services.consents import service as consents
from services.consents.cascade import NARROWED, WITHDRAWN, Narrowed, Withdrawal
from services.federation.runtime import Federation
from services.referrals import service as referrals
from services.referrals.messages import COMPLETED_EVENT, Completed
from services.referrals.service import APPROVING, ENDED, Approving, Ended
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
            service.attention(
                refused.slug,
                refused.detail,
                who=journey.agency,
                missing=refused.extra.get("missing"),
            )
        ]
        await service.announce(session, journey, "needs_attention")


_ENDED_WORDS = {
    "declined": "declined the referral",
    "expired": "did not answer the referral in time",
    "cancelled": "no longer holds the referral: it was cancelled",
    "refused_by_recipient": "refused the referral (its receipt gives every reason)",
    "rejected": "never received the referral: it was stopped on the way",
}


async def on_referral_ended(session: AsyncSession, ended: Ended, *, federation: Federation) -> None:
    """The stage's referral ended without an outcome: the journey needs its owner, who may
    draft it again, re-route it to an alternate, or record an outcome the SOP allows."""
    del federation
    row = ended.row
    if row.journey_id is None:
        return
    journey = await repository.lock(session, uuid.UUID(row.journey_id))
    if journey is None or journey.ended or journey.referral_id != row.referral_id:
        return
    journey.blocked = [
        service.attention(
            f"referral_{row.status}",
            f"{row.counterpart} {_ENDED_WORDS.get(row.status, row.status)} for stage "
            f"{row.stage}; draft it again, re-route it to an alternate, or record an outcome "
            "the SOP lets you record",
            who=journey.agency,
            referral_id=row.referral_id,
        )
    ]
    await service.announce(session, journey, "needs_attention")


async def on_consent_withdrawn(
    session: AsyncSession, withdrawal: Withdrawal, *, federation: Federation
) -> None:
    """AVRR principle (ii): the person may change their mind at any time; every open journey
    of the case ends in its withdrawal stage."""
    case_id = withdrawal.consent.case_id
    if case_id is None:
        return
    principal = withdrawal.principal
    if await consents.others_given(
        session, agency=principal.agency, case_id=uuid.UUID(case_id), but=withdrawal.consent.id
    ):
        # Another consent of the person stands: not the end of their case (issue 16).
        await _after_consent_change(session, principal, case_id, withdrawal.consent.label)
        return
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


async def on_consent_narrowed(
    session: AsyncSession, narrowed: Narrowed, *, federation: Federation
) -> None:
    """Part of a consent was taken back: a journey whose stage's referral rested on that part
    needs its owner, who must record a consent that covers it, or take another way."""
    del federation
    if narrowed.consent.case_id is not None:
        await _after_consent_change(
            session, narrowed.principal, narrowed.consent.case_id, narrowed.consent.label
        )


async def _after_consent_change(
    session: AsyncSession, principal: Principal, case_id: str, consent: str
) -> None:
    for journey in await repository.open_of_case(
        session, agency=principal.agency, case_id=uuid.UUID(case_id)
    ):
        if journey.referral_id is None:
            continue
        row = await referrals.get_row(session, principal=principal, referral_id=journey.referral_id)
        if row.status != ReferralStatus.REVOKED.value:
            continue
        journey.blocked = [
            service.attention(
                "referral_revoked",
                f"the person took back what {consent} let stage {journey.stage} send to "
                f"{row.counterpart}; record a consent that covers it, then draft again, or "
                "take another way",
                who=journey.agency,
                referral_id=row.referral_id,
                consent_id=row.consent_id,
            )
        ]
        await service.announce(session, journey, "needs_attention")


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
    NARROWED: on_consent_narrowed,
    PROFILE_CHANGED: on_profile_changed,
    APPROVING: on_referral_approving,
    ENDED: on_referral_ended,
}
