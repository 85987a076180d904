"""Programmes and journeys: the joint SOP decides who acts at each stage, and this node drafts
the referral each stage needs (DESIGN §7). The decisions themselves are ``sop`` functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.agreements import AgreementState
from contracts.categories import CaseProfile
from contracts.policy import PolicyRefused
from kit.db.base import utcnow
from kit.errors import AccordError, Conflict, Forbidden, NotFound, ValidationFailed
from services.agreements import repository as agreement_rows
from services.agreements import service as agreements
from services.audit import service as audit
from services.audit.service import actor_of
from services.cases import service as cases
from services.consents import service as consents
from services.federation.runtime import Federation
from services.referrals import service as referrals
from services.referrals.models import Referral
from services.referrals.schemas import ReferralCreate
from sop import engine
from sop.errors import DefinitionInvalid, MissingFacts, OutcomeNotAllowed, SopError
from sop.problems import Problem
from sop.programmes import covering_agreement, programme_faults
from sop.schema import Definition

from . import definitions
from .models import Journey, Programme, SopDefinition
from .verification import Verifier

WITHDRAW = "withdraw"


class ProgrammeRefused(AccordError):
    status = 422
    slug = "programme-refused"
    title = "Programme cannot run"
    explanation = (
        "Every stage acted by another agency needs an active agreement of the programme "
        "covering that stage's purpose and needs; `violations` lists every gap, per stage."
    )


class OutcomeRefused(AccordError):
    status = 409
    slug = "outcome-not-allowed"
    title = "Outcome not allowed here"
    explanation = (
        "The outcome is not one the journey's current stage defines, or your agency does not "
        "act at that stage; `allowed_outcomes` and `acting_agency` say what is possible."
    )


class JourneyFactsMissing(AccordError):
    status = 422
    slug = "journey-facts-missing"
    title = "Facts needed to decide the next stage"
    explanation = (
        "The SOP's guards cannot decide where the journey goes without these facts; record "
        "them on the case profile (or with the outcome) and try again. `missing` lists them."
    )


class DefinitionRefused(ValidationFailed):
    slug = "sop-definition-invalid"
    title = "SOP definition refused"
    explanation = (
        "The definition does not verify: `errors` lists every problem with its line (the "
        "same report `accord sop check` prints). A problem that breaks a size limit (guard "
        "length, depth, nested comprehensions, list items; document size, nesting, YAML "
        "anchors) names it in `limit`, with the `maximum` allowed and what was `found`."
    )


def _problem(problem: Problem) -> dict[str, Any]:
    found: dict[str, Any] = {
        "location": f"line {problem.line}",
        "line": problem.line,
        "message": problem.message,
        "type": problem.code,
    }
    if problem.breach is not None:
        found |= {
            "limit": problem.breach.limit,
            "maximum": problem.breach.maximum,
            "found": problem.breach.found,
        }
    return found


# --- definitions ----------------------------------------------------------------------------


async def upload(
    session: AsyncSession, verifier: Verifier, principal: Principal, source: str
) -> SopDefinition:
    """Verify ``source`` out of the event loop and store it as the principal's agency's.

    Another agency holding the same ``id@version`` is no conflict: definitions are per agency,
    and one that uploads a definition another uploaded first gets a copy of its own.
    """
    try:
        verified = await verifier.verify(source)
    except DefinitionInvalid as invalid:
        problems = [_problem(p) for p in invalid.problems]
        raise DefinitionRefused(
            f"{len(problems)} problem(s) in the definition.", extra={"errors": problems}
        ) from invalid
    if await definitions.exists(session, verified.ref, agency=principal.agency):
        raise Conflict(f"{verified.ref} exists; publish a new version instead of editing it.")
    row = SopDefinition(
        agency=principal.agency,
        id=verified.id,
        version=verified.version,
        title=verified.title,
        source=source,
        uploaded_by=actor_of(principal),
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        # The same agency uploaded the same version between the check above and this insert.
        raise Conflict(
            f"{verified.ref} exists; publish a new version instead of editing it."
        ) from None
    return row


# --- programmes -----------------------------------------------------------------------------


async def _definition(session: AsyncSession, ref: str, *, agency: str) -> Definition:
    found = await definitions.definition(session, ref, agency=agency)
    if found is None:
        raise NotFound(f"No SOP definition {ref} for your agency; GET /v1/sops lists them.")
    return found


async def _agreements(session: AsyncSession, ids: list[str]) -> list[AgreementState]:
    states = []
    for agreement_id in ids:
        row = await agreement_rows.get_row(session, agreement_id)
        if row is not None:
            states.append(agreement_rows.to_state(row))
    return states


async def check(
    session: AsyncSession, federation: Federation, programme: Programme, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Re-evaluate a programme: agreements expire and are suspended after it was created."""
    definition = await _definition(
        session, f"{programme.sop_id}@{programme.sop_version}", agency=programme.agency
    )
    faults = programme_faults(
        definition,
        owner=programme.agency,
        bindings=programme.bindings,
        agreements=await _agreements(session, programme.agreements),
        known_agencies=await agreements.known_agencies(session, federation),
        now=now or utcnow(),
    )
    missing = [
        a
        for a in programme.agreements
        if await agreement_rows.get_for(session, programme.agency, a) is None
    ]
    return [f.as_dict() for f in faults] + [
        {
            "code": "agreement_unknown",
            "message": f"agreement {a} is not held for {programme.agency}",
            "stage": None,
            "role": None,
        }
        for a in missing
    ]


async def create_programme(
    session: AsyncSession,
    federation: Federation,
    principal: Principal,
    *,
    title: str,
    sop: str,
    bindings: dict[str, str],
    agreement_ids: list[str],
    params: dict[str, Any],
) -> Programme:
    definition = await _definition(session, sop, agency=principal.agency)
    programme = Programme(
        agency=principal.agency,
        title=title,
        sop_id=definition.id,
        sop_version=definition.version,
        bindings=bindings,
        agreements=agreement_ids,
        params=params,
    )
    faults = await check(session, federation, programme)
    if faults:
        raise ProgrammeRefused(
            f"{len(faults)} reason(s) stop this programme: "
            + "; ".join(f["message"] for f in faults),
            extra={"violations": faults},
        )
    session.add(programme)
    await session.flush()
    await audit.record(
        session,
        agency=principal.agency,
        principal=principal,
        action="programme.created",
        subject_type="programme",
        subject_id=programme.id,
        detail={"sop": definition.ref},
    )
    return programme


async def get_programme(
    session: AsyncSession, principal: Principal, programme_id: uuid.UUID
) -> Programme:
    programme = await session.get(Programme, programme_id)
    if programme is None or programme.agency != principal.agency:
        raise NotFound("No programme with this id at your agency.")
    return programme


# --- journeys -------------------------------------------------------------------------------


@dataclass
class Context:
    journey: Journey
    programme: Programme
    definition: Definition
    state: engine.JourneyState


async def _facts(
    session: AsyncSession,
    federation: Federation,
    principal: Principal,
    journey_case: uuid.UUID,
    recorded: dict[str, Any],
) -> dict[str, Any]:
    case = await cases.get(session, principal, journey_case)
    vault = cases.vault_of(case, federation.master_key)
    profile: CaseProfile = cases.profile_of(case, vault)
    # None is passed on: the engine leaves an unknown fact unbound, or binds CEL null where
    # the SOP declares the fact nullable ("no free-movement regime").
    return {**profile.facts(utcnow().date()), **recorded}


def _recorded(journey: Journey, federation: Federation, case: Any) -> dict[str, Any]:
    if journey.facts_sealed is None:
        return {}
    vault = cases.vault_of(case, federation.master_key)
    value = vault.open(f"journey/{journey.id}/facts", journey.facts_sealed)
    return dict(value)


async def _context(session: AsyncSession, principal: Principal, journey: Journey) -> Context:
    programme = await get_programme(session, principal, journey.programme_id)
    definition = await _definition(
        session, f"{programme.sop_id}@{programme.sop_version}", agency=programme.agency
    )
    return Context(
        journey, programme, definition, engine.JourneyState.model_validate(journey.state)
    )


def acting_agency(ctx: Context) -> str | None:
    stage = ctx.definition.stage(ctx.state.stage)
    return ctx.programme.bindings.get(stage.actor) if stage.actor else None


async def _store(journey: Journey, step_state: engine.JourneyState) -> None:
    journey.state = step_state.model_dump(mode="json")
    journey.stage = step_state.stage
    journey.ended = step_state.ended
    journey.due_at = step_state.due_at
    journey.updated_at = utcnow()
    journey.referral_id = None
    journey.blocked = None
    journey.overdue_reported = None


async def _enter(
    session: AsyncSession, federation: Federation, principal: Principal, ctx: Context
) -> None:
    """The stage just entered: if another agency acts there, draft its referral with exactly
    the stage's needs (a focal point still approves it)."""
    stage = ctx.definition.stage(ctx.state.stage)
    actor = acting_agency(ctx)
    if ctx.state.ended or actor is None or actor == ctx.programme.agency:
        return
    agreement = covering_agreement(
        stage,
        owner=ctx.programme.agency,
        actor=actor,
        agreements=await _agreements(session, ctx.programme.agreements),
        now=utcnow(),
    )
    if agreement is None:
        ctx.journey.blocked = [
            {
                "code": "no_agreement",
                "message": f"no agreement of the programme covers stage {stage.id} now",
            }
        ]
        return
    consent_id = await consents.covering(
        session,
        principal,
        ctx.journey.case_id,
        recipient=actor,
        purpose=stage.purpose or "",
        categories=list(stage.needs),
    )
    request = ReferralCreate(
        case_id=ctx.journey.case_id,
        to_agency=actor,
        purpose=stage.purpose or "",
        agreement_id=agreement.id,
        consent_id=consent_id,
        categories=list(stage.needs),
        respond_by=ctx.state.due_at,
    )
    try:
        async with session.begin_nested():
            row = await referrals.create(
                session,
                federation,
                principal,
                request,
                stage=stage.id,
                journey_id=str(ctx.journey.id),
            )
    except PolicyRefused as refused:
        ctx.journey.blocked = [r.as_dict() for r in refused.reasons]
        return
    except AccordError as refused:
        ctx.journey.blocked = (
            refused.extra.get("violations")
            or refused.extra.get("errors")
            or [{"code": refused.slug, "message": refused.detail}]
        )
        return
    ctx.journey.referral_id = row.referral_id


def _sop_refusal(error: SopError, ctx: Context) -> AccordError:
    if isinstance(error, MissingFacts):
        return JourneyFactsMissing(str(error), extra={"missing": list(error.missing)})
    if isinstance(error, OutcomeNotAllowed):
        return OutcomeRefused(str(error), extra=_allowed(ctx))
    return AccordError(str(error), status=422)


def _allowed(ctx: Context) -> dict[str, Any]:
    return {
        "current_stage": ctx.state.stage,
        "allowed_outcomes": list(engine.allowed_outcomes(ctx.definition, ctx.state)),
        "acting_agency": acting_agency(ctx),
    }


async def start(
    session: AsyncSession,
    federation: Federation,
    principal: Principal,
    case_id: uuid.UUID,
    programme_id: uuid.UUID,
) -> Journey:
    programme = await get_programme(session, principal, programme_id)
    await cases.get(session, principal, case_id)
    faults = await check(session, federation, programme)
    if faults:
        raise ProgrammeRefused("The programme cannot run now.", extra={"violations": faults})
    definition = await _definition(
        session, f"{programme.sop_id}@{programme.sop_version}", agency=programme.agency
    )
    facts = await _facts(session, federation, principal, case_id, {})
    journey = Journey(
        agency=principal.agency, case_id=case_id, programme_id=programme.id, stage="", state={}
    )
    try:
        state = engine.start(definition, facts, programme.params, utcnow())
    except SopError as error:
        raise _sop_refusal(error, Context(journey, programme, definition, None)) from error  # type: ignore[arg-type]
    await _store(journey, state)
    session.add(journey)
    await session.flush()
    ctx = Context(journey, programme, definition, state)
    await _enter(session, federation, principal, ctx)
    await _audit(session, principal, journey, "journey.started")
    return journey


async def _audit(
    session: AsyncSession, principal: Principal | None, journey: Journey, action: str, **detail: Any
) -> None:
    await audit.record(
        session,
        agency=journey.agency,
        principal=principal,
        action=action,
        subject_type="journey",
        subject_id=journey.id,
        case_id=journey.case_id,
        detail={"stage": journey.stage, **detail},
    )


async def get(
    session: AsyncSession, principal: Principal, journey_id: uuid.UUID, *, lock: bool = False
) -> Journey:
    statement = select(Journey).where(Journey.id == journey_id, Journey.agency == principal.agency)
    if lock:
        statement = statement.with_for_update()
    journey = (await session.scalars(statement)).first()
    if journey is None:
        raise NotFound("No journey with this id at your agency.")
    return journey


async def view(session: AsyncSession, principal: Principal, journey: Journey) -> dict[str, Any]:
    ctx = await _context(session, principal, journey)
    stage = ctx.definition.stage(ctx.state.stage)
    overdue = engine.overdue(ctx.definition, ctx.state, utcnow())
    return {
        "id": str(journey.id),
        "agency": journey.agency,
        "case_id": str(journey.case_id),
        "programme_id": str(journey.programme_id),
        "sop": ctx.state.ref,
        "stage": stage.id,
        "stage_title": stage.title,
        "acting_agency": acting_agency(ctx),
        "acting_role": stage.actor,
        "due_at": ctx.state.due_at,
        "ended": ctx.state.ended,
        "overdue": bool(overdue),
        "allowed_outcomes": _allowed(ctx)["allowed_outcomes"],
        "referral_id": journey.referral_id,
        "blocked": journey.blocked,
        "history": [h.model_dump(mode="json") for h in ctx.state.history],
    }


async def advance(
    session: AsyncSession,
    federation: Federation,
    principal: Principal,
    journey: Journey,
    *,
    stage: str,
    outcome: str,
    facts: dict[str, Any],
    by_agency: str,
) -> Journey:
    """Record ``outcome`` at ``stage``, decided by ``by_agency``, and enter the next stage."""
    ctx = await _context(session, principal, journey)
    acting = acting_agency(ctx)
    if outcome != WITHDRAW and acting is not None and by_agency != acting:
        raise OutcomeRefused(
            f"{by_agency} does not act at stage {ctx.state.stage}; {acting} does.",
            extra=_allowed(ctx),
        )
    if outcome == WITHDRAW and by_agency != ctx.programme.agency:
        raise Forbidden("A withdrawal is recorded by the agency holding the case.")
    case = await cases.get(session, principal, journey.case_id)
    recorded = {**_recorded(journey, federation, case), **facts}
    all_facts = await _facts(session, federation, principal, journey.case_id, recorded)
    try:
        step = engine.advance(
            ctx.definition, ctx.state, stage, outcome, all_facts, ctx.programme.params, utcnow()
        )
    except SopError as error:
        raise _sop_refusal(error, ctx) from error
    if facts:
        vault = cases.vault_of(case, federation.master_key)
        journey.facts_sealed = vault.seal(f"journey/{journey.id}/facts", recorded)
    await _store(journey, step.state)
    ctx.state = step.state
    await _enter(session, federation, principal, ctx)
    await _audit(
        session,
        principal,
        journey,
        "journey.advanced",
        outcome=outcome,
        left=stage,
        facts=sorted(facts),
    )
    return journey


async def record_outcome(
    session: AsyncSession,
    federation: Federation,
    principal: Principal,
    journey_id: uuid.UUID,
    *,
    stage: str,
    outcome: str,
    facts: dict[str, Any],
) -> Journey:
    journey = await get(session, principal, journey_id, lock=True)
    return await advance(
        session,
        federation,
        principal,
        journey,
        stage=stage,
        outcome=outcome,
        facts=facts,
        by_agency=principal.agency,
    )


async def redraft(
    session: AsyncSession, federation: Federation, principal: Principal, journey_id: uuid.UUID
) -> Journey:
    """Try again to draft the current stage's referral (after consent was recorded, say)."""
    journey = await get(session, principal, journey_id, lock=True)
    if journey.referral_id is not None:
        raise Conflict(
            "The current stage's referral is drafted already.",
            extra={"referral_id": journey.referral_id},
        )
    ctx = await _context(session, principal, journey)
    journey.blocked = None
    await _enter(session, federation, principal, ctx)
    return journey


# --- following referrals and withdrawals -----------------------------------------------------


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


def facts_from_results(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Facts an SOP records from what the acting agency sent back (DESIGN §1: post-return
    monitoring's two sustainability indicators)."""
    facts: dict[str, Any] = {}
    monitoring = results.get("monitoring") or {}
    if "willing_to_remain" in monitoring:
        facts["willing_to_remain"] = monitoring["willing_to_remain"]
    if "social_participation" in monitoring or "meaningful_employment" in monitoring:
        facts["social_and_economic_participation"] = bool(
            monitoring.get("social_participation")
        ) and bool(monitoring.get("meaningful_employment"))
    return facts


async def on_referral_completed(
    session: AsyncSession, federation: Federation, row: Referral, results: dict[str, dict[str, Any]]
) -> None:
    """The acting agency completed the stage's referral: its outcome advances the journey."""
    if row.journey_id is None or row.stage is None or row.outcome is None:
        return
    journey = (
        await session.scalars(
            select(Journey).where(Journey.id == uuid.UUID(row.journey_id)).with_for_update()
        )
    ).first()
    if journey is None or journey.stage != row.stage or journey.ended:
        return
    owner = _owner(journey.agency)
    try:
        await advance(
            session,
            federation,
            owner,
            journey,
            stage=row.stage,
            outcome=row.outcome,
            facts=facts_from_results(results),
            by_agency=row.counterpart,
        )
    except AccordError as refused:
        journey.blocked = [
            {
                "code": refused.slug,
                "message": refused.detail,
                **({"missing": refused.extra["missing"]} if "missing" in refused.extra else {}),
            }
        ]


async def on_consent_withdrawn(
    session: AsyncSession, federation: Federation, principal: Principal, case_id: str
) -> None:
    """AVRR principle (ii): the person may change their mind at any time; every open journey
    of the case ends in its withdrawal stage."""
    journeys = (
        await session.scalars(
            select(Journey)
            .where(
                Journey.case_id == uuid.UUID(case_id),
                Journey.agency == principal.agency,
                Journey.ended.is_(False),
            )
            .with_for_update()
        )
    ).all()
    for journey in journeys:
        await advance(
            session,
            federation,
            principal,
            journey,
            stage=journey.stage,
            outcome=WITHDRAW,
            facts={},
            by_agency=principal.agency,
        )


async def report_overdue(db: Any, now: datetime | None = None) -> int:
    """Raise an event (audit) once for each journey whose current stage passed its deadline
    (DESIGN §1: readmission time frames); returns how many were reported now."""
    now = now or utcnow()
    reported = 0
    async with db.sessions.begin() as session:
        rows = (
            await session.scalars(
                select(Journey)
                .where(
                    Journey.ended.is_(False),
                    Journey.due_at.is_not(None),
                    Journey.due_at < now,
                )
                .with_for_update()
            )
        ).all()
        for journey in rows:
            if journey.overdue_reported == journey.stage:
                continue
            journey.overdue_reported = journey.stage
            await _audit(
                session,
                None,
                journey,
                "journey.overdue",
                due_at=journey.due_at.isoformat() if journey.due_at else None,
            )
            reported += 1
    return reported
