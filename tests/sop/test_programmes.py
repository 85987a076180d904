"""Whether a programme can run (DESIGN §7): every acting role bound to a known agency, and
every stage another agency acts at covered by an agreement in force between the owner and that
agency, for the stage's purpose and exactly its needs. Every fault is reported, per stage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.agreements import (
    AgreementState,
    Signature,
    new_draft,
    propose,
    sign,
    suspend,
    validate_terms,
)
from sop.programmes import ProgrammeFault, covering_agreement, programme_faults
from sop.schema import Definition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
KNOWN = {"unhcr", "iom", "ilo", "gov-de"}

#: A small SOP: the owner profiles, IOM counsels, ILO places in work, and the case closes.
DEFINITION = Definition.model_validate(
    {
        "id": "mini",
        "version": "1.0.0",
        "title": "Mini programme",
        "description": "Three actors, one terminal stage.",
        "roles": {
            "caseworker": "The owner's caseworker",
            "counsellor": "AVRR counsellor",
            "employer_liaison": "Finds work after return",
        },
        "start": "profiling",
        "stages": [
            {
                "id": "profiling",
                "title": "Profiling",
                "description": "The owner records the case.",
                "actor": "caseworker",
                "needs": ["identity", "skills"],
                "outcomes": {"done": "counselling"},
            },
            {
                "id": "counselling",
                "title": "Counselling",
                "description": "IOM counsels.",
                "actor": "counsellor",
                "needs": ["identity"],
                "purpose": "avrr-counselling",
                "outcomes": {"done": "placement"},
            },
            {
                "id": "placement",
                "title": "Placement",
                "description": "ILO places in work.",
                "actor": "employer_liaison",
                "needs": ["identity", "skills"],
                "purpose": "reintegration-employment",
                "outcomes": {"done": "closed"},
            },
            {
                "id": "closed",
                "title": "Closed",
                "description": "Nothing more to do.",
                "actor": "caseworker",
                "needs": ["health"],
                "terminal": True,
            },
        ],
    }
)
BINDINGS = {"caseworker": "unhcr", "counsellor": "iom", "employer_liaison": "ilo"}


def agreement(
    parties: tuple[str, ...] = ("unhcr", "iom", "ilo"),
    *,
    number: int = 1,
    signed_by: tuple[str, ...] | None = None,
    **changes: Any,
) -> AgreementState:
    """An agreement among ``parties``, signed by ``signed_by`` (all of them by default): UNHCR
    may send identity and skills to the others, for counselling and employment."""
    sender, *recipients = parties
    raw: dict[str, Any] = {
        "title": f"Agreement {number}",
        "parties": list(parties),
        "purposes": ["avrr-counselling", "reintegration-employment"],
        "categories": {
            "identity": {"senders": [sender], "recipients": recipients},
            "skills": {"senders": [sender], "recipients": recipients},
        },
        "retention_days": 365,
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
        **changes,
    }
    for category_terms in raw["categories"].values():
        # Who reads each category does not change whether a programme is covered.
        category_terms.setdefault("data_roles", ["counsellor"])
    terms = validate_terms(raw, known_agencies=KNOWN)
    state = new_draft(f"{number:08d}-0000-7000-8000-000000000001", terms, by=sender, at=T0)
    state = propose(state, by=sender, at=T0)
    for party in parties if signed_by is None else signed_by:
        signature = Signature(agency=party, kid=f"{party}-k1", value="c2lnbmF0dXJl")
        state = sign(state, signature, digest=state.digest, at=T0 + timedelta(hours=1))
    return state


def faults(
    *agreements: AgreementState,
    bindings: dict[str, Any] | None = None,
    known: set[str] | None = None,
    now: datetime = NOW,
) -> list[ProgrammeFault]:
    return programme_faults(
        DEFINITION,
        owner="unhcr",
        bindings=BINDINGS if bindings is None else bindings,
        agreements=list(agreements),
        known_agencies=KNOWN if known is None else known,
        now=now,
    )


def codes(found: list[ProgrammeFault]) -> list[tuple[str, str | None, str | None]]:
    return [(f.code, f.stage, f.role) for f in found]


def test_a_programme_whose_other_actors_are_all_covered_can_run() -> None:
    assert faults(agreement()) == []


def test_the_owners_own_stages_and_terminal_stages_need_no_agreement() -> None:
    # Only IOM and ILO act for another agency; the owner's profiling (and the terminal stage,
    # which needs health that no agreement lets out) need nothing.
    covers_both = agreement()
    assert faults(covers_both) == []
    everyone_is_the_owner = dict.fromkeys(BINDINGS, "unhcr")
    assert faults(bindings=everyone_is_the_owner) == []


def test_a_role_the_definition_does_not_have_is_a_fault() -> None:
    found = faults(agreement(), bindings={**BINDINGS, "driver": "iom"})
    assert codes(found) == [("role_unknown", None, "driver")]
    assert found[0].message == "mini@1.0.0 has no role driver"


def test_an_agency_outside_the_directory_is_a_fault() -> None:
    found = faults(agreement(), known={"unhcr", "ilo"})
    assert codes(found) == [("agency_unknown", None, "counsellor")]
    assert found[0].message == "iom (bound to counsellor) is not in the directory"


def test_an_acting_role_bound_to_no_agency_is_a_fault_naming_its_stages() -> None:
    found = faults(agreement(), bindings={"caseworker": "unhcr", "employer_liaison": "ilo"})
    assert codes(found) == [("role_unbound", None, "counsellor")]
    assert found[0].message == "role counsellor (acting at counselling) is bound to no agency"


def test_a_role_that_acts_only_at_terminal_stages_need_not_be_bound() -> None:
    definition = DEFINITION.model_copy(
        update={
            "roles": {**DEFINITION.roles, "archivist": "Keeps the file"},
            "stages": (
                *DEFINITION.stages[:-1],
                DEFINITION.stages[-1].model_copy(update={"actor": "archivist"}),
            ),
        }
    )
    found = programme_faults(
        definition,
        owner="unhcr",
        bindings=BINDINGS,
        agreements=[agreement()],
        known_agencies=KNOWN,
        now=NOW,
    )
    assert found == []


def test_no_agreement_between_the_owner_and_an_actor_is_a_fault_of_that_stage() -> None:
    only_iom = agreement(("unhcr", "iom"))
    found = faults(only_iom)
    assert codes(found) == [("no_agreement", "placement", "employer_liaison")]
    assert found[0].message == (
        "stage placement: no agreement of the programme between unhcr and ilo (employer_liaison)"
    )


def test_an_agreement_that_does_not_list_the_stages_purpose_does_not_cover_it() -> None:
    counselling_only = agreement(purposes=["avrr-counselling"])
    found = faults(counselling_only)
    assert codes(found) == [("agreement_does_not_cover", "placement", "employer_liaison")]
    assert found[0].message == (
        "stage placement (employer_liaison = ilo): agreement 00000001… v1 "
        "does not list purpose reintegration-employment"
    )


def test_the_owner_must_be_allowed_to_send_every_category_the_stage_needs() -> None:
    no_skills = agreement(
        categories={"identity": {"senders": ["unhcr"], "recipients": ["iom", "ilo"]}}
    )
    [fault] = faults(no_skills)
    assert (fault.code, fault.stage) == ("agreement_does_not_cover", "placement")
    assert fault.message.endswith("does not let unhcr send skills")


def test_the_actor_must_be_allowed_to_receive_every_category_the_stage_needs() -> None:
    skills_to_iom_only = agreement(
        categories={
            "identity": {"senders": ["unhcr"], "recipients": ["iom", "ilo"]},
            "skills": {"senders": ["unhcr"], "recipients": ["iom"]},
        }
    )
    [fault] = faults(skills_to_iom_only)
    assert fault.stage == "placement"
    assert fault.message.endswith("does not let ilo receive skills")


def test_an_agreement_not_in_force_covers_nothing_and_says_why() -> None:
    suspended = suspend(agreement(), by="iom", at=NOW - timedelta(days=1), reason="audit")
    found = faults(suspended)
    assert codes(found) == [
        ("agreement_does_not_cover", "counselling", "counsellor"),
        ("agreement_does_not_cover", "placement", "employer_liaison"),
    ]
    assert all(" is suspended" in f.message for f in found)


def test_an_agreement_past_its_end_or_not_fully_signed_covers_nothing() -> None:
    expired = faults(agreement(), now=datetime(2027, 2, 1, tzinfo=UTC))
    assert {f.message.split(" v1 ")[1] for f in expired} == {"is expired"}
    unsigned = faults(agreement(signed_by=("unhcr", "iom")))
    assert {f.message.split(" v1 ")[1] for f in unsigned} == {"is proposed"}


def test_a_stage_not_in_force_and_with_gaps_lists_every_reason() -> None:
    narrow = agreement(
        ("unhcr", "ilo"),
        purposes=["avrr-counselling"],
        categories={"identity": {"senders": ["unhcr"], "recipients": ["ilo"]}},
        signed_by=("unhcr",),
    )
    [fault] = faults(agreement(("unhcr", "iom")), narrow)
    assert fault.message == (
        "stage placement (employer_liaison = ilo): agreement 00000001… v1 is proposed; "
        "does not list purpose reintegration-employment; does not let unhcr send skills"
    )


def test_each_agreement_between_them_is_reported_when_none_covers_the_stage() -> None:
    first = agreement(("unhcr", "ilo"), number=1, purposes=["avrr-counselling"])
    second = agreement(("unhcr", "ilo"), number=2, signed_by=("unhcr",))
    found = faults(agreement(("unhcr", "iom"), number=3), first, second)
    assert [(f.stage, f.message.split(": ")[1].split(" v1")[0]) for f in found] == [
        ("placement", "agreement 00000001…"),
        ("placement", "agreement 00000002…"),
    ]


def test_one_covering_agreement_is_enough_whatever_the_others_say() -> None:
    lacking = agreement(("unhcr", "ilo"), number=1, purposes=["avrr-counselling"])
    assert faults(lacking, agreement(number=2)) == []


def test_every_fault_of_a_programme_is_reported_at_once() -> None:
    found = faults(
        agreement(("unhcr", "ilo"), purposes=["avrr-counselling"]),
        bindings={"caseworker": "unhcr", "employer_liaison": "ilo", "driver": "gov-xk"},
    )
    assert codes(found) == [
        ("role_unknown", None, "driver"),
        ("agency_unknown", None, "driver"),
        ("role_unbound", None, "counsellor"),
        ("agreement_does_not_cover", "placement", "employer_liaison"),
    ]


def test_the_covering_agreement_is_the_first_in_force_with_both_parties() -> None:
    [counselling, placement] = [
        s for s in DEFINITION.stages if s.id in ("counselling", "placement")
    ]
    not_ilo = agreement(("unhcr", "iom"), number=1)
    both = agreement(number=2)
    also_both = agreement(number=3)
    agreements = [not_ilo, both, also_both]
    assert (
        covering_agreement(placement, owner="unhcr", actor="ilo", agreements=agreements, now=NOW)
        == both
    )
    assert (
        covering_agreement(counselling, owner="unhcr", actor="iom", agreements=agreements, now=NOW)
        == not_ilo
    )
    assert (
        covering_agreement(placement, owner="unhcr", actor="gov-de", agreements=agreements, now=NOW)
        is None
    )


def test_a_stage_without_a_purpose_needs_only_its_categories_covered() -> None:
    placement = next(s for s in DEFINITION.stages if s.id == "placement")
    unpurposed = placement.model_copy(update={"purpose": None})
    other_purpose = agreement(purposes=["best-interests-determination"])
    assert (
        covering_agreement(
            unpurposed, owner="unhcr", actor="ilo", agreements=[other_purpose], now=NOW
        )
        == other_purpose
    )


def test_a_fault_reads_as_a_dictionary() -> None:
    fault = ProgrammeFault("no_agreement", "stage x: none", stage="x", role="counsellor")
    assert fault.as_dict() == {
        "code": "no_agreement",
        "message": "stage x: none",
        "stage": "x",
        "role": "counsellor",
    }


def test_every_agency_a_list_binds_needs_an_agreement() -> None:
    """An alternate may be picked instead of the first, so it needs an agreement too."""
    found = faults(
        agreement(),
        bindings={
            "caseworker": "unhcr",
            "counsellor": ["iom", "gov-rs"],
            "employer_liaison": "ilo",
        },
    )
    assert {(f.code, f.role) for f in found} == {
        ("agency_unknown", "counsellor"),
        ("no_agreement", "counsellor"),
    }
    assert all("gov-rs" in f.message for f in found)
