"""Journeys: a case walking a programme. The joint SOP decides who acts at each stage, and this
node drafts the referral each stage needs (DESIGN §7). The decisions themselves are ``sop``
functions; this module reads what they need and stores what they decide."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.policy import PolicyRefused
from contracts.profile import CaseProfile
from kit.db.base import utcnow
from kit.db.repository import Page
from kit.db.session import Database
from kit.errors import AccordError, Conflict, Forbidden, NotFound
from services.audit import service as audit
from services.cases import service as cases
from services.consents import service as consents
from services.events import service as events
from services.events.schemas import CODE_PATTERN
from services.federation.runtime import Federation
from services.programmes import repository as programme_rows
from services.programmes import service as programmes
from services.programmes.models import Programme
from services.referrals import service as referrals
from services.referrals.schemas import ReferralCreate
from sop import engine
from sop.bindings import BindingUnresolved, agencies_of, is_per_nationality, resolve
from sop.errors import (
    DecisionMissing,
    MissingFacts,
    OutcomeNotAllowed,
    SafeguardMissing,
    SopError,
)
from sop.programmes import covering_agreement
from sop.schema import Definition

from . import repository
from .models import Journey

WITHDRAW = "withdraw"


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


class SafeguardRefused(AccordError):
    status = 409
    slug = "safeguard-missing"
    title = "A safeguard the person's facts require is missing"
    explanation = (
        "The journey's history does not hold what the person's current facts require before "
        "this stage (a best-interests determination, a trafficking risk assessment, "
        "statelessness documentation, an independent monitor). `missing` names those stages "
        "by kind and `violations` gives every reason; complete them first."
    )


class DecisionRefMissing(AccordError):
    status = 422
    slug = "decision-ref-missing"
    title = "A written decision needs its reference"
    explanation = (
        "This stage's outcome is a written decision: send `decision_ref`, the reference of the "
        "decision document, with the outcome."
    )


@dataclass
class Context:
    journey: Journey
    programme: Programme
    definition: Definition
    state: engine.JourneyState


async def _facts(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    case_id: uuid.UUID,
    recorded: dict[str, Any],
) -> dict[str, Any]:
    case = await cases.get(session, principal=principal, case_id=case_id)
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


async def _context(session: AsyncSession, *, principal: Principal, journey: Journey) -> Context:
    programme = await programmes.get(
        session, principal=principal, programme_id=journey.programme_id
    )
    return Context(
        journey,
        programme,
        await programmes.definition_of(session, programme),
        engine.JourneyState.model_validate(journey.state),
    )


def _per_nationality(ctx: Context) -> bool:
    actor = ctx.definition.stage(ctx.state.stage).actor
    return actor is not None and is_per_nationality(ctx.programme.bindings.get(actor, ""))


def acting_agency(ctx: Context) -> str | None:
    """Who acts at the current stage: the first agency bound to its role, or, for a role bound
    per nationality, the authority picked when the stage was entered (None if none could be)."""
    actor = ctx.definition.stage(ctx.state.stage).actor
    if actor is None or actor not in ctx.programme.bindings:
        return None
    if ctx.journey.acting_agency or _per_nationality(ctx):
        # Picked for the person's state, or re-routed to an alternate by the owner.
        return ctx.journey.acting_agency
    return resolve(ctx.programme.bindings[actor], None, role=actor).agency


async def _pick_acting_agency(
    session: AsyncSession, *, federation: Federation, principal: Principal, ctx: Context
) -> str | None:
    """DESIGN §7: a role bound per nationality acts through the authority of the person's
    nationality (profile and recorded facts first, else the identity category). Raises
    ``BindingUnresolved`` when the nationality is unknown or not bound."""
    actor = ctx.definition.stage(ctx.state.stage).actor
    if actor is None or not _per_nationality(ctx) or ctx.journey.acting_agency:
        return acting_agency(ctx)
    case = await cases.get(session, principal=principal, case_id=ctx.journey.case_id)
    facts = await _facts(
        session,
        federation=federation,
        principal=principal,
        case_id=ctx.journey.case_id,
        recorded=_recorded(ctx.journey, federation, case),
    )
    nationality = facts.get("nationality")
    if not nationality:
        states = await cases.states_of(session, case=case, master_key=federation.master_key)
        nationality = next(iter(states.nationalities)) if len(states.nationalities) == 1 else None
    ctx.journey.acting_agency = resolve(
        ctx.programme.bindings[actor], nationality, role=actor
    ).agency
    return ctx.journey.acting_agency


def _first_agencies(bindings: dict[str, Any]) -> dict[str, str]:
    """Role to the agency that acts for it, for the roles not bound per nationality."""
    return {
        role: resolve(binding, None, role=role).agency
        for role, binding in bindings.items()
        if not is_per_nationality(binding)
    }


def agencies(ctx: Context) -> dict[str, str]:
    """Role to acting agency, as the runtime guard reads them (who carries out a removal)."""
    found = _first_agencies(ctx.programme.bindings)
    actor = ctx.definition.stage(ctx.state.stage).actor
    if actor is not None and ctx.journey.acting_agency and _per_nationality(ctx):
        found[actor] = ctx.journey.acting_agency
    return found


def _store(journey: Journey, step_state: engine.JourneyState) -> None:
    journey.state = step_state.model_dump(mode="json")
    journey.stage = step_state.stage
    journey.ended = step_state.ended
    journey.due_at = step_state.due_at
    journey.updated_at = utcnow()
    journey.referral_id = None
    journey.acting_agency = None
    journey.blocked = None
    journey.overdue_reported = None


async def _enter(
    session: AsyncSession, *, federation: Federation, principal: Principal, ctx: Context
) -> None:
    """The stage just entered: if another agency acts there, draft its referral with exactly
    the stage's needs (a focal point still approves it)."""
    stage = ctx.definition.stage(ctx.state.stage)
    if ctx.state.ended:
        return
    try:
        actor = await _pick_acting_agency(
            session, federation=federation, principal=principal, ctx=ctx
        )
    except BindingUnresolved as unresolved:
        ctx.journey.blocked = [
            attention(unresolved.code, str(unresolved), who=ctx.programme.agency)
        ]
        return
    if actor is None or actor == ctx.programme.agency:
        return
    agreement = covering_agreement(
        stage,
        owner=ctx.programme.agency,
        actor=actor,
        agreements=await programmes.agreements_of(session, ctx.programme),
        now=utcnow(),
    )
    if agreement is None:
        ctx.journey.blocked = [
            attention(
                "no_agreement",
                f"no agreement of the programme covers stage {stage.id} now",
                who=ctx.programme.agency,
            )
        ]
        return
    consent_id = (
        await consents.covering(
            session,
            principal=principal,
            case_id=ctx.journey.case_id,
            recipient=actor,
            purpose=stage.purpose or "",
            categories=list(stage.needs),
        )
        if stage.legal_basis == "consent"
        else None
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
                federation=federation,
                principal=principal,
                data=request,
                stage=stage.id,
                journey_id=str(ctx.journey.id),
            )
    except PolicyRefused as refused:
        ctx.journey.blocked = [
            {**r.as_dict(), "who": ctx.programme.agency} for r in refused.reasons
        ]
        return
    except AccordError as refused:
        ctx.journey.blocked = [{**b, "who": ctx.programme.agency} for b in _blockers(refused)]
        return
    ctx.journey.referral_id = row.referral_id


def attention(code: str, message: str, *, who: str, **more: Any) -> dict[str, Any]:
    """One reason a journey needs attention, and the agency that must act on it."""
    return {"code": code, "message": message, "who": who, **{k: v for k, v in more.items() if v}}


def _blockers(refused: AccordError) -> list[dict[str, Any]]:
    """Why a stage's referral was not drafted, each reason with a code and a message: a
    policy refusal's violations, a validation problem's errors, or the problem itself."""
    reasons = refused.extra.get("violations") or refused.extra.get("errors") or []
    found = [
        {
            "code": str(reason.get("code") or reason.get("type") or refused.slug),
            "message": str(reason.get("message") or refused.detail),
            **({"category": reason["category"]} if reason.get("category") else {}),
        }
        for reason in reasons
        if isinstance(reason, dict)
    ]
    return found or [{"code": refused.slug, "message": refused.detail}]


def _sop_refusal(error: SopError, ctx: Context | None) -> AccordError:
    if isinstance(error, SafeguardMissing):
        return SafeguardRefused(
            str(error),
            extra={
                "stage": error.stage,
                "missing": list(error.missing),
                "violations": [
                    {"code": "safeguard_missing", "message": reason} for reason in error.reasons
                ],
            },
        )
    if isinstance(error, DecisionMissing):
        return DecisionRefMissing(str(error), extra={"stage": error.stage})
    if isinstance(error, MissingFacts):
        return JourneyFactsMissing(str(error), extra={"missing": list(error.missing)})
    if isinstance(error, OutcomeNotAllowed) and ctx is not None:
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
    *,
    federation: Federation,
    principal: Principal,
    case_id: uuid.UUID,
    programme_id: uuid.UUID,
) -> Journey:
    programme = await programmes.get(session, principal=principal, programme_id=programme_id)
    await cases.get(session, principal=principal, case_id=case_id)
    await programmes.require_runnable(session, federation=federation, programme=programme)
    definition = await programmes.definition_of(session, programme)
    facts = await _facts(
        session, federation=federation, principal=principal, case_id=case_id, recorded={}
    )
    journey = Journey(
        agency=principal.agency, case_id=case_id, programme_id=programme.id, stage="", state={}
    )
    try:
        state = engine.start(
            definition,
            facts,
            programme.params,
            utcnow(),
            agencies=_first_agencies(programme.bindings),
            deadlines=programme.deadlines,
        )
    except SopError as error:
        raise _sop_refusal(error, None) from error
    _store(journey, state)
    await repository.add(session, journey)
    ctx = Context(journey, programme, definition, state)
    await _enter(session, federation=federation, principal=principal, ctx=ctx)
    await announce(session, journey, "started")
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


async def announce(session: AsyncSession, journey: Journey, what: str, **data: Any) -> None:
    """Log ``journey.<what>`` in the event log of the journey's agency (DESIGN §10), then the
    state it is left in: ``journey.ended``, or ``journey.needs_attention`` with the reasons'
    codes (the owner must act).
    Stages, outcomes and codes only: never the facts that moved it, nor their names."""
    about = {
        "journey_id": journey.id,
        "case_id": journey.case_id,
        "programme_id": journey.programme_id,
        "stage": journey.stage,
        "acting_agency": journey.acting_agency,
        "referral_id": journey.referral_id,
    }
    blocked = [str(b.get("code")) for b in journey.blocked or []]
    reasons = {"reasons": [c for c in blocked if re.fullmatch(CODE_PATTERN, c)]} if blocked else {}
    if what == "needs_attention":
        data = {**reasons, **data}
    await events.append(
        session, agency=journey.agency, type=f"journey.{what}", data={**about, **data}
    )
    if journey.ended and what != "ended":
        await events.append(session, agency=journey.agency, type="journey.ended", data=about)
    elif blocked and what != "needs_attention":
        await events.append(
            session,
            agency=journey.agency,
            type="journey.needs_attention",
            data={**about, **reasons},
        )


async def get(
    session: AsyncSession, *, principal: Principal, journey_id: uuid.UUID, lock: bool = False
) -> Journey:
    journey = await repository.get_for(
        session, agency=principal.agency, journey_id=journey_id, lock=lock
    )
    if journey is None:
        raise NotFound("No journey with this id at your agency.")
    return journey


@dataclass(frozen=True)
class JourneyView:
    """A journey as its readers see it: where it is, who acts, what may happen next."""

    journey: Journey
    ctx: Context
    overdue: bool

    @property
    def stage(self) -> Any:
        return self.ctx.definition.stage(self.ctx.state.stage)


def _view(ctx: Context) -> JourneyView:
    overdue = engine.overdue(ctx.definition, ctx.state, utcnow())
    return JourneyView(ctx.journey, ctx, bool(overdue))


async def view(session: AsyncSession, *, principal: Principal, journey: Journey) -> JourneyView:
    return _view(await _context(session, principal=principal, journey=journey))


async def page(
    session: AsyncSession,
    *,
    principal: Principal,
    case_id: uuid.UUID | None,
    overdue: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[JourneyView], str | None]:
    """A page of the agency's journeys; the programmes of the page are read in one query."""
    found: Page[Journey] = await repository.page_for(
        session,
        agency=principal.agency,
        case_id=case_id,
        overdue_at=utcnow() if overdue else None,
        cursor=cursor,
        limit=limit,
    )
    held = await programme_rows.by_ids(
        session, agency=principal.agency, ids={j.programme_id for j in found.items}
    )
    definitions: dict[str, Definition] = {}
    views = []
    for journey in found.items:
        programme = held[journey.programme_id]
        if programme.sop not in definitions:
            definitions[programme.sop] = await programmes.definition_of(session, programme)
        state = engine.JourneyState.model_validate(journey.state)
        views.append(_view(Context(journey, programme, definitions[programme.sop], state)))
    return views, found.next_cursor


async def advance(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    journey: Journey,
    stage: str,
    outcome: str,
    facts: dict[str, Any],
    by_agency: str,
    decision: engine.Decision | None = None,
) -> Journey:
    """Record ``outcome`` at ``stage``, decided by ``by_agency``, and enter the next stage (or
    the safeguard the facts now require, DESIGN §9)."""
    ctx = await _context(session, principal=principal, journey=journey)
    acting = acting_agency(ctx)
    if outcome != WITHDRAW and acting is None and _per_nationality(ctx):
        raise OutcomeRefused(
            f"No agency acts at stage {ctx.state.stage} until the person's state's authority "
            "is picked: see the journey's `blocked` reasons.",
            extra=_allowed(ctx),
        )
    owner_records = (
        by_agency == ctx.programme.agency
        and referral_ended(journey)
        and outcome in ctx.definition.stage(ctx.state.stage).owner_may_record
    )
    if outcome != WITHDRAW and acting is not None and by_agency != acting and not owner_records:
        raise OutcomeRefused(
            f"{by_agency} does not act at stage {ctx.state.stage}; {acting} does.",
            extra=_allowed(ctx),
        )
    if outcome == WITHDRAW and by_agency != ctx.programme.agency:
        raise Forbidden("A withdrawal is recorded by the agency holding the case.")
    case = await cases.get(session, principal=principal, case_id=journey.case_id)
    recorded = {**_recorded(journey, federation, case), **facts}
    all_facts = await _facts(
        session,
        federation=federation,
        principal=principal,
        case_id=journey.case_id,
        recorded=recorded,
    )
    try:
        step = engine.advance(
            ctx.definition,
            ctx.state,
            stage,
            outcome,
            all_facts,
            ctx.programme.params,
            utcnow(),
            by=by_agency,
            decision=decision,
            agencies=agencies(ctx),
            deadlines=ctx.programme.deadlines,
        )
    except SopError as error:
        raise _sop_refusal(error, ctx) from error
    if facts:
        vault = cases.vault_of(case, federation.master_key)
        journey.facts_sealed = vault.seal(f"journey/{journey.id}/facts", recorded)
    _store(journey, step.state)
    ctx.state = step.state
    await _enter(session, federation=federation, principal=principal, ctx=ctx)
    await announce(
        session,
        journey,
        "diverted" if step.state.history[-1].because else "advanced",
        from_stage=stage,
        outcome=outcome,
        by=by_agency,
    )
    await _audit(
        session,
        principal,
        journey,
        "journey.advanced",
        outcome=outcome,
        left=stage,
        facts=sorted(facts),
        **(
            {"diverted_because": list(step.state.history[-1].because)}
            if step.state.history[-1].because
            else {}
        ),
    )
    return journey


async def _facts_now(
    session: AsyncSession, *, federation: Federation, principal: Principal, journey: Journey
) -> dict[str, Any]:
    """The journey's facts as they stand: the case profile, then what its outcomes recorded."""
    case = await cases.get(session, principal=principal, case_id=journey.case_id)
    return await _facts(
        session,
        federation=federation,
        principal=principal,
        case_id=journey.case_id,
        recorded=_recorded(journey, federation, case),
    )


async def follow_facts(
    session: AsyncSession, *, federation: Federation, principal: Principal, journey: Journey
) -> bool:
    """A fact of the case changed: divert the journey to the safeguard it now requires, if any
    (DESIGN §9). The interrupted stage's referral is cancelled and its recipient erases; the
    history and the audit name the facts, never their values. True when it was diverted."""
    ctx = await _context(session, principal=principal, journey=journey)
    facts = await _facts_now(session, federation=federation, principal=principal, journey=journey)
    try:
        diverted = engine.divert(
            ctx.definition,
            ctx.state,
            facts,
            ctx.programme.params,
            utcnow(),
            agencies=agencies(ctx),
            deadlines=ctx.programme.deadlines,
        )
    except SopError as error:
        raise _sop_refusal(error, ctx) from error
    if diverted is None:
        return False
    left = ctx.state.stage
    if journey.referral_id is not None:
        await referrals.interrupt(
            session, federation=federation, principal=principal, referral_id=journey.referral_id
        )
    _store(journey, diverted)
    ctx.state = diverted
    await _enter(session, federation=federation, principal=principal, ctx=ctx)
    await announce(session, journey, "diverted", from_stage=left)
    await _audit(
        session,
        principal,
        journey,
        "journey.diverted",
        left=left,
        because=list(diverted.history[-1].because),
    )
    return True


async def check_before_approval(
    session: AsyncSession,
    *,
    principal: Principal,
    journey: Journey,
    stage: str,
    federation: Federation,
) -> None:
    """The runtime guard again, as a referral for a departure or a forced removal is approved:
    the facts may have changed since the journey entered the stage."""
    if journey.stage != stage or journey.ended:
        return
    ctx = await _context(session, principal=principal, journey=journey)
    facts = await _facts_now(session, federation=federation, principal=principal, journey=journey)
    try:
        engine.check_safeguards(
            ctx.definition, ctx.state, facts, ctx.programme.params, agencies=agencies(ctx)
        )
    except SopError as error:
        raise _sop_refusal(error, ctx) from error


async def withdrawable(session: AsyncSession, *, principal: Principal, journey: Journey) -> bool:
    """Whether the person's withdrawal ends the journey: not where the stage rests on a legal
    obligation (the host authority's own enforcement), nor where the SOP has no withdrawal."""
    ctx = await _context(session, principal=principal, journey=journey)
    stage = ctx.definition.stage(ctx.state.stage)
    return stage.legal_basis == "consent" and WITHDRAW in engine.allowed_outcomes(
        ctx.definition, ctx.state
    )


async def record_outcome(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    journey_id: uuid.UUID,
    stage: str,
    outcome: str,
    facts: dict[str, Any],
    decision_ref: str | None = None,
) -> Journey:
    journey = await get(session, principal=principal, journey_id=journey_id, lock=True)
    return await advance(
        session,
        federation=federation,
        principal=principal,
        journey=journey,
        stage=stage,
        outcome=outcome,
        facts=facts,
        by_agency=principal.agency,
        decision=engine.Decision(
            decided_by=referrals.decided_by(principal), decision_ref=decision_ref
        ),
    )


async def redraft(
    session: AsyncSession, *, federation: Federation, principal: Principal, journey_id: uuid.UUID
) -> Journey:
    """Draft the current stage's referral again: after consent was recorded, say, or after the
    acting agency declined or let the last one lapse (to the same agency)."""
    journey = await get(session, principal=principal, journey_id=journey_id, lock=True)
    if journey.referral_id is not None and not referral_ended(journey):
        raise Conflict(
            "The current stage's referral is drafted already.",
            extra={"referral_id": journey.referral_id},
        )
    ctx = await _context(session, principal=principal, journey=journey)
    journey.referral_id = None
    journey.blocked = None
    await _enter(session, federation=federation, principal=principal, ctx=ctx)
    await _audit(session, principal, journey, "journey.redrafted", to=acting_agency(ctx))
    await announce(session, journey, "redrafted")
    return journey


def referral_ended(journey: Journey) -> bool:
    """The stage's referral ended without an outcome (declined, expired, cancelled, refused)."""
    return any(str(b.get("code", "")).startswith("referral_") for b in journey.blocked or [])


class NoAlternate(AccordError):
    status = 409
    slug = "no-alternate"
    title = "No alternate agency to re-route to"
    explanation = (
        "The programme binds no further agency for this stage's role (DESIGN §7: a binding may "
        "list alternates after the agency that acts). Draft the referral again, record an "
        "outcome the SOP lets you record, or amend the programme."
    )


async def reroute(
    session: AsyncSession, *, federation: Federation, principal: Principal, journey_id: uuid.UUID
) -> Journey:
    """Send the current stage to the next alternate the programme binds for its role, once
    the journey needs attention (the acting agency declined, did not answer, or could not be
    drafted to)."""
    journey = await get(session, principal=principal, journey_id=journey_id, lock=True)
    ctx = await _context(session, principal=principal, journey=journey)
    if ctx.state.ended or not journey.blocked:
        raise Conflict(
            "Only a journey that needs attention is re-routed; this one waits for "
            f"{acting_agency(ctx) or 'no one'}.",
            extra=_allowed(ctx),
        )
    role = ctx.definition.stage(ctx.state.stage).actor
    binding = ctx.programme.bindings.get(role or "")
    if role is None or binding is None:
        raise NoAlternate(f"No agency is bound for stage {ctx.state.stage}.")
    nationality = None
    if is_per_nationality(binding):
        facts = await _facts_now(
            session, federation=federation, principal=principal, journey=journey
        )
        nationality = facts.get("nationality")
    try:
        bound = resolve(binding, nationality, role=role)
    except BindingUnresolved as unresolved:
        raise NoAlternate(str(unresolved)) from unresolved
    order = [bound.agency, *bound.alternates]
    current = acting_agency(ctx)
    at = order.index(current) if current in order else -1
    if at + 1 >= len(order):
        raise NoAlternate(
            f"{current} is the last agency bound for role {role}.", extra={"bound": order}
        )
    if journey.referral_id is not None and not referral_ended(journey):
        await referrals.interrupt(
            session, federation=federation, principal=principal, referral_id=journey.referral_id
        )
    journey.acting_agency = order[at + 1]
    journey.referral_id = None
    journey.blocked = None
    await _enter(session, federation=federation, principal=principal, ctx=ctx)
    await _audit(
        session, principal, journey, "journey.rerouted", role=role, to=journey.acting_agency
    )
    await announce(session, journey, "rerouted")
    return journey


def next_steps(ctx: Context) -> list[str]:
    """What the owner may do about a journey that needs attention: draft again, re-route to an
    alternate, or record one of the outcomes the SOP lets the owner record."""
    journey = ctx.journey
    if ctx.state.ended or not journey.blocked:
        return []
    stage = ctx.definition.stage(ctx.state.stage)
    steps = ["redraft"]
    binding = ctx.programme.bindings.get(stage.actor or "")
    if binding is not None and len(agencies_of(binding)) > 1:
        steps.append("reroute")
    if referral_ended(journey):
        steps += [f"record:{outcome}" for outcome in stage.owner_may_record]
    return steps


async def report_overdue(db: Database, now: datetime | None = None) -> int:
    """Raise an event (audit) once for each journey whose current stage passed its deadline
    (DESIGN §1: readmission time frames); returns how many were reported now."""
    now = now or utcnow()
    reported = 0
    async with db.sessions.begin() as session:
        for journey in await repository.overdue(session, now=now):
            if journey.overdue_reported == journey.stage:
                continue
            journey.overdue_reported = journey.stage
            await announce(session, journey, "overdue", due_at=journey.due_at)
            await _audit(
                session,
                None,
                journey,
                "journey.overdue",
                due_at=journey.due_at.isoformat() if journey.due_at else None,
            )
            reported += 1
    return reported
