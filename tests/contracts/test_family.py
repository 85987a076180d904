"""Family unity: a household's members, and a departure that would separate a child from the
parent or guardian who cares for them (CRC art. 9), unless a best-interests determination
with a written decision decided it (CRC art. 3)."""

from __future__ import annotations

import uuid

import pytest

from contracts.family import (
    FAMILY_SEPARATION,
    HouseholdMember,
    MemberStatus,
    Relationship,
    household_faults,
    parse_members,
    separations,
)

MOTHER, DAUGHTER, SON, AUNT, NIECE, FATHER = (str(uuid.uuid4()) for _ in range(6))


def _member(case_id: str, relationship: str) -> HouseholdMember:
    return HouseholdMember(case_id=uuid.UUID(case_id), relationship=Relationship(relationship))


def _status(
    case_id: str,
    relationship: str,
    *,
    departing: bool,
    is_child: bool | None = None,
    bid: str | None = None,
) -> MemberStatus:
    if is_child is None:
        is_child = relationship in ("child", "ward")
    return MemberStatus(
        case_id=case_id,
        relationship=Relationship(relationship),
        is_child=is_child,
        departing=departing,
        bid_decision_ref=bid,
    )


# --- the household as recorded -------------------------------------------------------------


def test_a_mother_and_her_daughter_make_a_household() -> None:
    assert household_faults([_member(MOTHER, "parent"), _member(DAUGHTER, "child")]) == []


def test_one_member_is_not_a_household() -> None:
    [fault] = household_faults([_member(MOTHER, "spouse")])
    assert fault.code == "one_member"
    assert fault.loc == ("members",)


def test_a_case_listed_twice_is_named_once_per_repeat() -> None:
    faults = household_faults(
        [_member(MOTHER, "parent"), _member(DAUGHTER, "child"), _member(MOTHER, "sibling")]
    )
    assert [(f.code, f.loc) for f in faults] == [("duplicate_member", ("members", 2, "case_id"))]
    assert MOTHER in faults[0].message


def test_a_child_needs_a_parent_and_a_ward_a_guardian_in_the_household() -> None:
    faults = household_faults(
        [_member(DAUGHTER, "child"), _member(NIECE, "ward"), _member(SON, "sibling")]
    )
    assert [(f.code, f.loc) for f in faults] == [
        ("unmatched_relationship", ("members", 0, "relationship")),
        ("unmatched_relationship", ("members", 1, "relationship")),
    ]
    assert "parent" in faults[0].message
    assert "guardian" in faults[1].message


def test_a_parent_without_a_child_and_a_guardian_without_a_ward_make_no_sense() -> None:
    faults = household_faults([_member(MOTHER, "parent"), _member(AUNT, "guardian")])
    assert [f.code for f in faults] == ["unmatched_relationship", "unmatched_relationship"]


def test_every_fault_comes_back_at_once() -> None:
    members, faults = parse_members(
        [
            {"case_id": MOTHER, "relationship": "parent"},
            {"case_id": "not-a-uuid", "relationship": "cousin", "name": "Hidden Name"},
            {"case_id": MOTHER, "relationship": "child"},
        ]
    )
    faults += household_faults(members, unknown={uuid.UUID(MOTHER)})
    codes = sorted({f.code for f in faults})
    assert codes == [
        "duplicate_member",
        "enum",
        "extra_forbidden",
        "unknown_case",
        "uuid_parsing",
    ]
    assert members[1] is None, "a member that does not parse is left out of the rules"
    assert not any("Hidden Name" in f.message for f in faults), "never a value sent"


def test_members_must_be_a_list() -> None:
    members, faults = parse_members({"case_id": MOTHER})
    assert members == []
    assert [f.code for f in faults] == ["list_type"]


# --- the rule at departure ------------------------------------------------------------------


def test_a_child_departing_while_her_mother_stays_is_a_family_separation() -> None:
    [violation] = separations(
        [_status(MOTHER, "parent", departing=False), _status(DAUGHTER, "child", departing=True)],
        subject=DAUGHTER,
    )
    assert violation.code == FAMILY_SEPARATION == "family_separation"
    assert violation.child == DAUGHTER
    assert violation.member == MOTHER
    assert DAUGHTER in violation.message
    assert MOTHER in violation.message
    assert "parent" in violation.message


def test_a_mother_departing_while_her_daughter_stays_is_one_too() -> None:
    [violation] = separations(
        [_status(MOTHER, "parent", departing=True), _status(DAUGHTER, "child", departing=False)],
        subject=MOTHER,
    )
    assert violation.as_dict()["code"] == "family_separation"
    assert violation.message.startswith(f"parent case {MOTHER} would depart")


def test_a_family_that_departs_together_is_not_separated() -> None:
    members = [
        _status(MOTHER, "parent", departing=True),
        _status(FATHER, "parent", departing=True),
        _status(DAUGHTER, "child", departing=True),
        _status(SON, "child", departing=True),
    ]
    assert separations(members) == []


def test_a_best_interests_determination_with_its_reference_decides_the_separation() -> None:
    members = [
        _status(AUNT, "guardian", departing=False),
        _status(NIECE, "ward", departing=True, bid="BID-2026-077"),
    ]
    assert separations(members, subject=NIECE) == []
    assert separations(members, subject=AUNT) == []


def test_a_ward_leaving_her_guardian_without_a_decision_is_refused() -> None:
    [violation] = separations(
        [_status(AUNT, "guardian", departing=False), _status(NIECE, "ward", departing=True)],
        subject=NIECE,
    )
    assert "guardian" in violation.message


def test_every_separated_parent_is_named() -> None:
    violations = separations(
        [
            _status(MOTHER, "parent", departing=False),
            _status(FATHER, "parent", departing=False),
            _status(DAUGHTER, "child", departing=True),
        ],
        subject=DAUGHTER,
    )
    assert sorted(v.member for v in violations) == sorted([MOTHER, FATHER])


def test_only_separations_the_subject_takes_part_in_are_reported() -> None:
    """Approving the son's departure with his mother does not answer for the daughter, whose
    own approval is refused when it comes."""
    members = [
        _status(MOTHER, "parent", departing=True),
        _status(SON, "child", departing=True),
        _status(DAUGHTER, "child", departing=False),
    ]
    assert separations(members, subject=SON) == []
    assert [v.child for v in separations(members, subject=MOTHER)] == [DAUGHTER]


def test_an_adult_son_may_leave_his_parents() -> None:
    members = [
        _status(MOTHER, "parent", departing=False),
        _status(SON, "child", departing=True, is_child=False),
    ]
    assert separations(members, subject=SON) == []


@pytest.mark.parametrize("relationship", ["sibling", "spouse", "other"])
def test_other_relationships_do_not_bind_a_departure(relationship: str) -> None:
    members = [
        _status(MOTHER, relationship, departing=False, is_child=False),
        _status(DAUGHTER, "sibling", departing=True, is_child=True),
    ]
    assert separations(members, subject=DAUGHTER) == []


def test_a_child_of_unknown_age_is_treated_as_a_child() -> None:
    members = [
        MemberStatus(
            case_id=MOTHER, relationship=Relationship.PARENT, is_child=False, departing=False
        ),
        MemberStatus(
            case_id=DAUGHTER, relationship=Relationship.CHILD, is_child=None, departing=True
        ),
    ]
    assert [v.child for v in separations(members)] == [DAUGHTER]
