"""Households: cases of one agency linked as a family, and family unity when a departure's
referral is approved (``contracts.family`` holds the rule; this module reads what it needs).

**Departing**, as this module reads it from a member's journeys at the agency (any one of them
suffices):

- the journey is open and its current stage is of kind ``departure`` (``sop.schema.StageKind``;
  the enforcement SOP's forced removal is one too), whatever its referral's status (drafted,
  being approved, approved, sent, accepted): the departure is under way; or
- the journey has passed a departure: its history holds a visit to a stage that only follows
  one, of kind ``reception``, ``reintegration``, ``employment`` or ``post_return_monitoring``
  (whether the journey is still open or has ended since).

A departure that did not take place (``not_departed`` back to counselling) leaves none of
these, so the member is not departing.

**Decided by a BID**: the child's journey history holds a completed visit to a stage of kind
``bid`` (an outcome recorded) with its ``decision_ref``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts import family
from contracts.family import (
    MemberStatus,
    Relationship,
    Separation,
    household_faults,
    parse_members,
    separations,
)
from contracts.faults import Fault
from kit.db.base import new_id, utcnow
from kit.errors import Conflict, NotFound
from kit.faults import DocumentInvalid, fault_entries
from services.audit import service as audit
from services.audit.service import actor_of
from services.cases import service as cases
from services.federation.runtime import Federation
from services.journeys.models import Journey
from services.programmes import service as programmes
from sop import engine
from sop.schema import Definition, StageKind

from . import repository
from .models import Household, HouseholdMember

SUBJECT = "household"
#: Kinds of stage a journey reaches only after a departure.
AFTER_DEPARTURE = frozenset(
    {
        StageKind.RECEPTION,
        StageKind.REINTEGRATION,
        StageKind.EMPLOYMENT,
        StageKind.POST_RETURN_MONITORING,
    }
)


class HouseholdRefused(DocumentInvalid):
    slug: ClassVar[str] = "household-invalid"
    title = "Household refused"
    explanation = (
        "The members do not make a household: `errors` lists every fault at once (a case that "
        "is not one of your agency's, a case listed twice, fewer than two members, a child "
        "with no parent in the household, a ward with no guardian, or the reverse)."
    )


class FamilySeparation(Conflict):
    slug: ClassVar[str] = "family-separation"
    title = "The departure would separate a family"
    explanation = (
        "Approving this departure would separate a child from a parent or guardian of their "
        "household who is not departing (or the reverse), and no best-interests determination "
        "with a `decision_ref` decided it (CRC art. 3, 9). `violations` names every child and "
        "member concerned by case id and relationship. Let the family depart together, or "
        "complete a best-interests determination first."
    )


@dataclass(frozen=True)
class HouseholdView:
    household: Household
    members: Sequence[HouseholdMember]


def _refused(faults: Sequence[Fault], at: tuple[str, ...]) -> HouseholdRefused:
    noun = "fault" if len(faults) == 1 else "faults"
    return HouseholdRefused(
        f"The household was refused with {len(faults)} {noun}. See `errors`.",
        extra={"errors": fault_entries(faults, at)},
    )


def _body_faults(body: object) -> tuple[object, list[Fault]]:
    if not isinstance(body, Mapping):
        return [], [Fault((), "must be a JSON object", "model_type")]
    faults = [
        Fault((str(key),), "is not a recognised field", "extra_forbidden")
        for key in body
        if key != "members"
    ]
    if "members" not in body:
        faults.append(Fault(("members",), "is required", "missing"))
    return body.get("members", []), faults


async def _check(
    session: AsyncSession,
    *,
    principal: Principal,
    members: Sequence[family.HouseholdMember | None],
    faults: list[Fault],
    at: tuple[str, ...],
) -> None:
    wanted = {m.case_id for m in members if m is not None}
    known = await repository.cases_of_agency(session, agency=principal.agency, case_ids=wanted)
    faults = faults + household_faults(members, unknown=wanted - known)
    if faults:
        raise _refused(faults, at)


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    household: Household,
    *,
    case_id: uuid.UUID | None = None,
    **detail: Any,
) -> None:
    await audit.record_by(
        session, principal, action, audit.Subject(SUBJECT, household.id, case_id), detail=detail
    )


async def create(session: AsyncSession, *, principal: Principal, body: object) -> HouseholdView:
    """Link cases of the principal's agency as one household (``POST /v1/households``)."""
    raw, faults = _body_faults(body)
    members, parsed = parse_members(raw)
    await _check(
        session, principal=principal, members=members, faults=faults + parsed, at=("body",)
    )
    now = utcnow()
    household = Household(
        id=new_id(),
        agency=principal.agency,
        created_by=actor_of(principal),
        created_at=now,
        updated_at=now,
    )
    rows = [
        HouseholdMember(
            household_id=household.id,
            case_id=m.case_id,
            relationship=m.relationship.value,
            position=i,
            added_at=now,
        )
        for i, m in enumerate(members)
        if m is not None
    ]
    await repository.add(session, household, rows)
    await _audit(
        session,
        principal,
        "household.created",
        household,
        members=len(rows),
        relationships=sorted({r.relationship for r in rows}),
    )
    return HouseholdView(household, rows)


async def _household(
    session: AsyncSession, *, principal: Principal, household_id: uuid.UUID, lock: bool = False
) -> Household:
    household = await repository.get_for(
        session, agency=principal.agency, household_id=household_id, lock=lock
    )
    if household is None:
        raise NotFound("No household with this id at your agency.")
    return household


async def get(
    session: AsyncSession, *, principal: Principal, household_id: uuid.UUID
) -> HouseholdView:
    household = await _household(session, principal=principal, household_id=household_id)
    return HouseholdView(household, await repository.members_of(session, household.id))


def _as_members(rows: Sequence[HouseholdMember]) -> list[family.HouseholdMember | None]:
    return [
        family.HouseholdMember(case_id=r.case_id, relationship=Relationship(r.relationship))
        for r in rows
    ]


async def add_member(
    session: AsyncSession,
    *,
    principal: Principal,
    household_id: uuid.UUID,
    case_id: uuid.UUID,
    relationship: Relationship,
) -> HouseholdView:
    """A case joins the household; refused, with every fault, if the result is not one."""
    household = await _household(session, principal=principal, household_id=household_id, lock=True)
    rows = await repository.members_of(session, household.id)
    joined = family.HouseholdMember(case_id=case_id, relationship=relationship)
    await _check(
        session, principal=principal, members=[*_as_members(rows), joined], faults=[], at=()
    )
    now = utcnow()
    await repository.add_member(
        session,
        HouseholdMember(
            household_id=household.id,
            case_id=case_id,
            relationship=relationship.value,
            position=max((r.position for r in rows), default=-1) + 1,
            added_at=now,
        ),
    )
    household.updated_at = now
    await _audit(
        session,
        principal,
        "household.member_added",
        household,
        case_id=case_id,
        relationship=relationship.value,
    )
    return HouseholdView(household, await repository.members_of(session, household.id))


async def remove_member(
    session: AsyncSession, *, principal: Principal, household_id: uuid.UUID, case_id: uuid.UUID
) -> HouseholdView:
    """A case leaves the household; refused if what remains is not one (delete nothing then)."""
    household = await _household(session, principal=principal, household_id=household_id, lock=True)
    rows = await repository.members_of(session, household.id)
    leaving = next((r for r in rows if r.case_id == case_id), None)
    if leaving is None:
        raise NotFound("No such member of this household.")
    remaining = [r for r in rows if r.case_id != case_id]
    await _check(session, principal=principal, members=_as_members(remaining), faults=[], at=())
    await repository.remove_member(session, household_id=household.id, case_id=case_id)
    household.updated_at = utcnow()
    await _audit(
        session,
        principal,
        "household.member_removed",
        household,
        case_id=case_id,
        relationship=leaving.relationship,
    )
    return HouseholdView(household, await repository.members_of(session, household.id))


# --- family unity at departure --------------------------------------------------------------


def stage_kinds(definition: Definition, stage_id: str) -> tuple[StageKind, ...]:
    try:
        return definition.stage(stage_id).kind
    except KeyError:
        return ()


def departing(definition: Definition, state: engine.JourneyState) -> bool:
    """Whether the journey is at or past a departure (the module docstring says exactly how)."""
    if not state.ended and StageKind.DEPARTURE in stage_kinds(definition, state.stage):
        return True
    return any(
        AFTER_DEPARTURE.intersection(stage_kinds(definition, entry.stage))
        for entry in state.history
    )


def bid_decision(definition: Definition, state: engine.JourneyState) -> str | None:
    """The reference of the journey's latest completed best-interests determination, if any."""
    for entry in reversed(state.history):
        if (
            StageKind.BID in stage_kinds(definition, entry.stage)
            and entry.outcome is not None
            and entry.decision_ref
        ):
            return entry.decision_ref
    return None


class _Reader:
    """Reads each member's facts and journeys once, under the principal's agency."""

    def __init__(self, session: AsyncSession, principal: Principal, federation: Federation):
        self.session = session
        self.principal = principal
        self.federation = federation
        self._definitions: dict[uuid.UUID, Definition] = {}

    async def _definition(self, journey: Journey) -> Definition:
        if journey.programme_id not in self._definitions:
            programme = await programmes.get(
                self.session, principal=self.principal, programme_id=journey.programme_id
            )
            self._definitions[journey.programme_id] = await programmes.definition_of(
                self.session, programme
            )
        return self._definitions[journey.programme_id]

    async def status(self, member: HouseholdMember) -> MemberStatus:
        case = await cases.get(self.session, principal=self.principal, case_id=member.case_id)
        profile = cases.profile_of(case, cases.vault_of(case, self.federation.master_key))
        is_child = profile.with_derived(utcnow().date()).is_child
        leaving, decision = False, None
        for journey in await repository.journeys_of_case(
            self.session, agency=self.principal.agency, case_id=member.case_id
        ):
            definition = await self._definition(journey)
            state = engine.JourneyState.model_validate(journey.state)
            leaving = leaving or departing(definition, state)
            decision = decision or bid_decision(definition, state)
        return MemberStatus(
            case_id=str(member.case_id),
            relationship=Relationship(member.relationship),
            is_child=is_child,
            departing=leaving,
            bid_decision_ref=decision,
        )


async def separations_of(
    session: AsyncSession, *, federation: Federation, principal: Principal, case_id: uuid.UUID
) -> list[Separation]:
    """Every separation the case's departure takes part in, in every household it belongs to."""
    reader = _Reader(session, principal, federation)
    found: list[Separation] = []
    for household in await repository.of_case(session, agency=principal.agency, case_id=case_id):
        members = [
            await reader.status(m) for m in await repository.members_of(session, household.id)
        ]
        # The departure being approved is the case's, whatever its journeys say yet.
        members = [replace(m, departing=True) if m.case_id == str(case_id) else m for m in members]
        found += separations(members, subject=str(case_id))
    return found


async def check_departure(
    session: AsyncSession, *, federation: Federation, principal: Principal, case_id: uuid.UUID
) -> None:
    """Refuse (:class:`FamilySeparation`) a departure of the case that would separate a child
    of its household from a parent or guardian, unless a BID with a decision_ref decided it."""
    found = await separations_of(
        session, federation=federation, principal=principal, case_id=case_id
    )
    if found:
        raise FamilySeparation(
            "; ".join(s.message for s in found),
            extra={"violations": [s.as_dict() for s in found]},
        )
