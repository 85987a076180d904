"""Family unity: cases linked as one household, and the departures that would separate a child
from the parent or guardian who cares for them.

A child is not separated from their parents against their will unless the competent
authorities determine that separation is in the child's best interests (CRC art. 9); in
return, that is the best-interests determination (CRC art. 3, UNHCR BID guidelines). So a
departure that takes a child away from a parent or guardian in the household, or takes the
parent or guardian away from the child, is refused unless a BID with a written decision
(its ``decision_ref``) decided it.

Relationships are roles in the household, not links between two named members: every
``parent`` of a household cares for every ``child`` in it, every ``guardian`` for every
``ward``. That is enough to name who a child must not be separated from, and keeps a
household a list a caseworker can write. Messages name relationships and case ids, never a
person's name or facts.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from .faults import Fault, FaultsError, faults_from_validation_error

FAMILY_SEPARATION = "family_separation"


class Relationship(StrEnum):
    """A member's role in the household (a closed list: a misspelt role must be an error, not a
    member the rule silently fails to see)."""

    PARENT = "parent"
    CHILD = "child"
    GUARDIAN = "guardian"
    WARD = "ward"
    SPOUSE = "spouse"
    SIBLING = "sibling"
    OTHER = "other"


#: Who cares for whom: a dependant's relationship, and the relationship of their carers.
CARERS: dict[Relationship, Relationship] = {
    Relationship.CHILD: Relationship.PARENT,
    Relationship.WARD: Relationship.GUARDIAN,
}
#: A carer's relationship, and the relationship of those they care for.
DEPENDANTS: dict[Relationship, Relationship] = {
    carer: dependant for dependant, carer in CARERS.items()
}


class HouseholdMember(BaseModel):
    """One case of the household and its relationship."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: uuid.UUID
    relationship: Relationship


class HouseholdInvalid(FaultsError):
    """A household was refused; ``faults`` names every reason."""


_MEMBERS: TypeAdapter[list[Any]] = TypeAdapter(list[Any])
_MEMBER: TypeAdapter[HouseholdMember] = TypeAdapter(HouseholdMember)


def parse_members(raw: object) -> tuple[list[HouseholdMember | None], list[Fault]]:
    """The members as sent, each parsed on its own so that every fault is found: a member that
    does not parse is ``None`` in its place (and left out of the household's rules)."""
    try:
        items = _MEMBERS.validate_python(raw)
    except ValidationError as error:
        return [], faults_from_validation_error(error, ("members",))
    members: list[HouseholdMember | None] = []
    faults: list[Fault] = []
    for index, item in enumerate(items):
        try:
            members.append(_MEMBER.validate_python(item))
        except ValidationError as error:
            members.append(None)
            faults += faults_from_validation_error(error, ("members", index))
    return members, faults


def household_faults(
    members: Sequence[HouseholdMember | None], *, unknown: Collection[uuid.UUID] = ()
) -> list[Fault]:
    """Every reason the members do not make a household: fewer than two cases, a case listed
    twice, a case ``unknown`` to the caller's agency, a relationship with no counterpart (a
    child with no parent in the household, a guardian with no ward, ...)."""
    faults: list[Fault] = []
    present = [m for m in members if m is not None]
    if len(members) < 2:
        faults.append(Fault(("members",), "a household links at least two cases", "one_member"))
    seen: set[uuid.UUID] = set()
    for index, member in enumerate(members):
        if member is None:
            continue
        at = ("members", index, "case_id")
        if member.case_id in seen:
            faults.append(
                Fault(at, f"case {member.case_id} is listed more than once", "duplicate_member")
            )
            continue
        seen.add(member.case_id)
        if member.case_id in unknown:
            faults.append(Fault(at, f"no case {member.case_id} at your agency", "unknown_case"))
    roles = {m.relationship for m in present}
    for index, member in enumerate(members):
        if member is None:
            continue
        counterpart = CARERS.get(member.relationship) or DEPENDANTS.get(member.relationship)
        if counterpart is not None and counterpart not in roles:
            faults.append(
                Fault(
                    ("members", index, "relationship"),
                    f"a {member.relationship} needs a {counterpart} in the household",
                    "unmatched_relationship",
                )
            )
    return faults


# --- the rule at departure ------------------------------------------------------------------


@dataclass(frozen=True)
class MemberStatus:
    """A member as the rule sees it when a departure is approved.

    ``is_child``: the case's fact (None when unknown: a ``child`` or ``ward`` whose age is not
    known is treated as a child, the protections for children applying until it is).
    ``departing``: whether the member is at or past a departure (the caller decides how to read
    that from the journey). ``bid_decision_ref``: the reference of a completed best-interests
    determination of this member, which decides a separation that concerns them.
    """

    case_id: str
    relationship: Relationship
    is_child: bool | None
    departing: bool
    bid_decision_ref: str | None = None


@dataclass(frozen=True)
class Separation:
    """A child who would be separated from a carer: ``child`` and ``member`` (the parent or
    guardian) are case ids; ``relationship`` is the carer's."""

    child: str
    member: str
    relationship: Relationship
    message: str
    code: str = FAMILY_SEPARATION

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "message": self.message,
            "case_id": self.child,
            "member": self.member,
            "relationship": self.relationship.value,
        }


_DECIDE = "only a best-interests determination with a decision_ref may decide that separation"


def separations(members: Sequence[MemberStatus], *, subject: str | None = None) -> list[Separation]:
    """Every child of the household who would be separated from a parent or guardian in it:
    one departs while the other stays, and no best-interests determination of the child with a
    written decision decided it (CRC art. 3, 9). With ``subject`` (the case whose departure is
    being approved), only separations that case takes part in: another member's separation is
    refused at that member's own approval."""
    found: list[Separation] = []
    for child in members:
        carer_role = CARERS.get(child.relationship)
        if carer_role is None or child.is_child is False or child.bid_decision_ref:
            continue
        for carer in members:
            if carer.relationship is not carer_role or carer.departing == child.departing:
                continue
            if subject is not None and subject not in (child.case_id, carer.case_id):
                continue
            if child.departing:
                message = (
                    f"{child.relationship} case {child.case_id} would depart while their "
                    f"{carer.relationship} case {carer.case_id} stays; {_DECIDE}"
                )
            else:
                message = (
                    f"{carer.relationship} case {carer.case_id} would depart while their "
                    f"{child.relationship} case {child.case_id} stays; {_DECIDE}"
                )
            found.append(Separation(child.case_id, carer.case_id, carer.relationship, message))
    return found


__all__ = [
    "CARERS",
    "FAMILY_SEPARATION",
    "HouseholdInvalid",
    "HouseholdMember",
    "MemberStatus",
    "Relationship",
    "Separation",
    "household_faults",
    "parse_members",
    "separations",
]
