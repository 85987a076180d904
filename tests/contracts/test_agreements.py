"""contracts.agreements: terms validation, the signed canonical form, and the lifecycle."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.agreements import (
    AgreementFault,
    AgreementInvalid,
    AgreementRef,
    AgreementState,
    AgreementStatus,
    AgreementTerms,
    InvalidTransition,
    LegalBasis,
    NotAParty,
    Signature,
    StaleDigest,
    amend,
    break_glass_allowed,
    canonical,
    change_faults,
    digest,
    effective_status,
    expire,
    new_draft,
    proposal_faults,
    propose,
    resume,
    revise,
    sign,
    supersede,
    suspend,
    terminate,
    terms_warnings,
    validate_terms,
)
from contracts.canonical import sha256_hex
from contracts.categories import Category
from contracts.policy import readable_by_agreement

DIRECTORY = {"unhcr", "iom", "ilo", "gov-de", "gov-xk"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def raw_terms(**changes: Any) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "title": "AVRR Germany-Kosovo 2026",
        "parties": ["unhcr", "iom", "ilo"],
        "purposes": ["avrr-counselling", "reintegration-employment"],
        "categories": {
            "identity": {
                "senders": ["unhcr"],
                "recipients": ["iom", "ilo"],
                "data_roles": ["counsellor"],
            },
            "skills": {
                "senders": ["unhcr", "iom"],
                "recipients": ["ilo"],
                "data_roles": ["reintegration_officer"],
            },
            "health": {
                "senders": ["unhcr"],
                "recipients": ["iom"],
                "data_roles": ["medical"],
            },
        },
        "retention_days": 365,
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
    }
    terms.update(changes)
    return terms


def legacy_raw_terms() -> dict[str, Any]:
    """Terms as parties signed them before every category had to name its data roles."""
    data = raw_terms()
    for category in ("identity", "skills"):
        del data["categories"][category]["data_roles"]
    return data


def terms(**changes: Any) -> AgreementTerms:
    return validate_terms(raw_terms(**changes), known_agencies=DIRECTORY)


def faults_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(AgreementInvalid) as caught:
        validate_terms(data, known_agencies=DIRECTORY)
    return [(f.path, f.code) for f in caught.value.faults]


def sig(agency: str, kid: str = "k1") -> Signature:
    return Signature(agency=agency, kid=f"{agency}-{kid}", value="c2lnbmF0dXJl")


def proposed(**changes: Any) -> AgreementState:
    state = new_draft("3a5c0e1f-0000-7000-8000-000000000001", terms(**changes), by="unhcr", at=T0)
    return propose(state, by="unhcr", at=T0)


def active(**changes: Any) -> AgreementState:
    state = proposed(**changes)
    for party in ("unhcr", "iom", "ilo"):
        state = sign(state, sig(party), digest=state.digest, at=T0 + timedelta(hours=1))
    return state


# --- validation --------------------------------------------------------------------------


def test_valid_terms_are_accepted_with_design_defaults() -> None:
    t = terms()
    assert t.legal_basis == LegalBasis.CONSENT
    assert t.onward_sharing is False
    assert t.erasure_deadline_hours == 72
    assert t.encryption == "hpke-x25519"
    assert t.break_glass is False


def _set(path: list[str | int], value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


Change = Callable[[dict[str, Any]], None]

# One row per rule: what is changed, and every (location, code) it must produce.
FAULT_CASES: list[tuple[str, Change, list[tuple[str, str]]]] = [
    (
        "one party",
        _set(["parties"], ["unhcr", "unhcr"]),
        [
            ("parties", "parties_too_few"),
            ("parties[1]", "party_duplicate"),
            # What was shared with iom and ilo now goes to non-parties.
            ("categories.identity.recipients[0]", "recipient_not_party"),
            ("categories.identity.recipients[1]", "recipient_not_party"),
            ("categories.skills.senders[1]", "sender_not_party"),
            ("categories.skills.recipients[0]", "recipient_not_party"),
            ("categories.health.recipients[0]", "recipient_not_party"),
        ],
    ),
    (
        "party twice",
        _set(["parties"], ["unhcr", "iom", "ilo", "iom"]),
        [("parties[3]", "party_duplicate")],
    ),
    (
        "party unknown to the directory",
        _set(["parties"], ["unhcr", "iom", "ilo", "ngo-x"]),
        [("parties[3]", "party_unknown")],
    ),
    ("no categories", _set(["categories"], {}), [("categories", "categories_empty")]),
    (
        "category outside the vocabulary",
        _set(["categories", "religion"], {"senders": ["unhcr"], "recipients": ["iom"]}),
        [("categories.religion", "category_unknown")],
    ),
    (
        "sender not a party",
        _set(["categories", "identity", "senders"], ["unhcr", "gov-de"]),
        [("categories.identity.senders[1]", "sender_not_party")],
    ),
    (
        "recipient not a party",
        _set(["categories", "identity", "recipients"], ["gov-xk"]),
        [("categories.identity.recipients[0]", "recipient_not_party")],
    ),
    (
        "category flows nowhere",
        _set(
            ["categories", "skills"],
            {"senders": ["ilo"], "recipients": ["ilo"], "data_roles": ["counsellor"]},
        ),
        [("categories.skills", "category_no_flow")],
    ),
    (
        "sensitive category without data roles",
        _set(["categories", "protection"], {"senders": ["unhcr"], "recipients": ["iom"]}),
        [("categories.protection.data_roles", "data_roles_missing")],
    ),
    (
        "category without data roles",
        _set(["categories", "identity", "data_roles"], []),
        [("categories.identity.data_roles", "data_roles_missing")],
    ),
    (
        "biometrics without data roles",
        _set(["categories", "biometrics"], {"senders": ["unhcr"], "recipients": ["iom"]}),
        [("categories.biometrics.data_roles", "data_roles_missing")],
    ),
    (
        "valid_until before valid_from",
        _set(["valid_until"], "2025-06-01T00:00:00Z"),
        [("valid_until", "validity_order")],
    ),
    (
        "valid_until equal to valid_from",
        _set(["valid_until"], "2026-01-01T00:00:00Z"),
        [("valid_until", "validity_order")],
    ),
    (
        "break-glass without vital interest",
        _set(["break_glass"], True),
        [("break_glass", "break_glass_basis")],
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"),
    [pytest.param(change, expected, id=name) for name, change, expected in FAULT_CASES],
)
def test_each_agreement_rule_is_reported_with_its_location(
    change: Change, expected: list[tuple[str, str]]
) -> None:
    data = raw_terms()
    change(data)
    assert sorted(faults_of(data)) == sorted(expected)


def test_every_agreement_fault_code_has_a_test_case() -> None:
    tested = {code for _, _, expected in FAULT_CASES for _, code in expected}
    assert tested >= {c.value for c in AgreementFault}


def test_every_fault_is_listed_at_once_not_only_the_first() -> None:
    data = raw_terms(
        parties=["unhcr", "iom", "ilo", "iom", "ngo-x"],
        valid_until="2025-06-01T00:00:00Z",
        break_glass=True,
    )
    data["categories"] = {
        "religion": {"senders": ["unhcr"], "recipients": ["iom"]},
        "identity": {
            "senders": ["unhcr", "gov-de"],
            "recipients": ["gov-xk"],
            "data_roles": ["counsellor"],
        },
        "skills": {"senders": ["ilo"], "recipients": ["ilo"], "data_roles": ["counsellor"]},
        "protection": {"senders": ["unhcr"], "recipients": ["iom"]},
    }
    assert sorted(faults_of(data)) == sorted(
        [
            ("parties[3]", "party_duplicate"),
            ("parties[4]", "party_unknown"),
            ("categories.religion", "category_unknown"),
            ("categories.identity.senders[1]", "sender_not_party"),
            ("categories.identity.recipients[0]", "recipient_not_party"),
            ("categories.skills", "category_no_flow"),
            ("categories.protection.data_roles", "data_roles_missing"),
            ("valid_until", "validity_order"),
            ("break_glass", "break_glass_basis"),
        ]
    )


def test_a_malformed_field_does_not_hide_the_rules_about_the_others() -> None:
    data = raw_terms(valid_from="next monday", retention_days=0)
    data["categories"]["identity"]["senders"] = ["gov-de"]
    data["categories"]["health"] = {"senders": ["unhcr"], "recipients": ["iom"]}
    data["categories"]["skills"] = {"senders": "unhcr", "data_roles": ["counsellor"]}
    paths = {path for path, _ in faults_of(data)}
    assert {
        "valid_from",
        "retention_days",
        "categories.identity.senders[0]",
        "categories.health.data_roles",
        "categories.skills.senders",
        "categories.skills.recipients",
    } <= paths


def test_unknown_fields_and_missing_required_terms_are_faults() -> None:
    data = raw_terms(jurisdiction="DE")
    del data["retention_days"]
    del data["title"]
    assert set(faults_of(data)) == {
        ("jurisdiction", "extra_forbidden"),
        ("retention_days", "missing"),
        ("title", "missing"),
    }


def test_naive_datetimes_are_refused_not_guessed() -> None:
    assert faults_of(raw_terms(valid_from="2026-01-01T00:00:00")) == [
        ("valid_from", "timezone_aware")
    ]


def test_malformed_legal_basis_is_reported_without_guessing_a_break_glass_fault() -> None:
    assert faults_of(raw_terms(legal_basis="necessity", break_glass=True)) == [
        ("legal_basis", "enum")
    ]


def test_break_glass_is_allowed_under_vital_interest() -> None:
    t = terms(legal_basis="vital_interest", break_glass=True)
    assert break_glass_allowed(t)
    assert not break_glass_allowed(terms())


def test_terms_built_directly_still_enforce_the_rules() -> None:
    data = raw_terms()
    data["categories"]["identity"]["recipients"] = ["gov-de"]
    with pytest.raises(ValidationError, match="gov-de is not a party"):
        AgreementTerms.model_validate(data)


def test_validate_terms_accepts_a_terms_object_and_checks_the_directory() -> None:
    t = terms()
    assert validate_terms(t, known_agencies=DIRECTORY) == t
    with pytest.raises(AgreementInvalid) as caught:
        validate_terms(t, known_agencies={"unhcr", "iom"})
    assert [f.message for f in caught.value.faults] == [
        "ilo is not a member of the federation directory"
    ]


def test_fault_messages_are_words_a_focal_point_understands() -> None:
    data = raw_terms()
    data["categories"]["protection"] = {"senders": ["unhcr"], "recipients": ["iom"]}
    with pytest.raises(AgreementInvalid) as caught:
        validate_terms(data, known_agencies=DIRECTORY)
    assert caught.value.faults[0].message == (
        "protection is a sensitive category: name the data roles that may read it "
        "(for example protection_officer)"
    )


# --- canonical form and digest -----------------------------------------------------------


def test_canonical_form_names_every_term_with_times_in_utc_z() -> None:
    doc = canonical(terms(valid_from="2026-01-01T02:00:00+02:00"))
    assert set(doc) == set(AgreementTerms.model_fields)
    assert doc["valid_from"] == "2026-01-01T00:00:00Z"
    assert doc["parties"] == ["ilo", "iom", "unhcr"]
    assert doc["categories"]["identity"] == {
        "senders": ["unhcr"],
        "recipients": ["ilo", "iom"],
        "data_roles": ["counsellor"],
    }
    json.dumps(doc)  # plain JSON values only


def test_digest_is_hex_sha256_of_the_rfc8785_form() -> None:
    t = terms()
    assert digest(t) == sha256_hex(rfc8785.dumps(canonical(t)))


# The exact bytes every party signed for ``legacy_raw_terms()``. Changing how terms are
# canonicalised changes these bytes, and then no agreement signed before verifies any more.
SIGNED_BYTES = (
    b'{"break_glass":false,"break_glass_hours":3,"categories":{"health":{"data_roles":["medical"],'
    b'"recipients":["iom"],"senders":["unhcr"]},"identity":{"data_roles":[],"recipients":["ilo",'
    b'"iom"],"senders":["unhcr"]},"skills":{"data_roles":[],"recipients":["ilo"],"senders":["iom",'
    b'"unhcr"]}},"encryption":"hpke-x25519","erasure_deadline_hours":72,"legal_basis":"consent",'
    b'"onward_sharing":false,"parties":["ilo","iom","unhcr"],"purposes":["avrr-counselling",'
    b'"reintegration-employment"],"retention_days":365,"title":"AVRR Germany-Kosovo 2026",'
    b'"valid_from":"2026-01-01T00:00:00Z","valid_until":"2027-01-01T00:00:00Z"}'
)


def test_signed_bytes_are_pinned_so_a_change_to_the_signed_form_is_noticed() -> None:
    signed = AgreementTerms.model_validate(legacy_raw_terms())
    assert rfc8785.dumps(canonical(signed)) == SIGNED_BYTES
    assert digest(signed) == hashlib.sha256(SIGNED_BYTES).hexdigest()


# --- data roles: DESIGN §9 "a category with none is refused at drafting" ------------------


def test_every_category_without_data_roles_is_refused_at_drafting_all_named_at_once() -> None:
    data = raw_terms()
    data["categories"]["identity"]["data_roles"] = []
    del data["categories"]["skills"]["data_roles"]
    with pytest.raises(AgreementInvalid) as caught:
        validate_terms(data, known_agencies=DIRECTORY)
    assert [(f.path, f.code) for f in caught.value.faults] == [
        ("categories.identity.data_roles", "data_roles_missing"),
        ("categories.skills.data_roles", "data_roles_missing"),
    ]
    # Says what an empty list would have done, and what to write instead.
    assert caught.value.faults[0].message == (
        "name the data roles that may read identity at ilo, iom (for example counsellor): "
        "with none named, everyone there who reads referrals would read it"
    )


def test_an_agreement_signed_without_data_roles_keeps_working_and_carries_warnings() -> None:
    # Signed before the rule: it still loads, verifies and decides as it did.
    signed = AgreementTerms.model_validate(legacy_raw_terms())
    assert signed.data_roles_of(Category.IDENTITY) == frozenset()
    readable, _ = readable_by_agreement(signed, ["identity", "health"], data_roles=())
    assert readable == (Category.IDENTITY,)

    warnings = terms_warnings(signed)

    assert [(w.code, w.category) for w in warnings] == [
        ("data_roles_missing", "identity"),
        ("data_roles_missing", "skills"),
    ]
    assert "everyone at ilo, iom who reads referrals may read identity" in warnings[0].message
    assert terms_warnings(terms()) == ()


def test_same_terms_in_another_key_order_give_the_same_digest() -> None:
    data = raw_terms()
    reordered = dict(reversed(list(data.items())))
    reordered["categories"] = dict(reversed(list(data["categories"].items())))
    assert digest(validate_terms(reordered, known_agencies=DIRECTORY)) == digest(terms())


def test_same_sets_in_another_order_and_the_same_instant_in_another_zone_give_the_same_digest() -> (
    None
):
    data = raw_terms(
        parties=["ilo", "unhcr", "iom"],
        purposes=["reintegration-employment", "avrr-counselling"],
        valid_until="2027-01-01T01:00:00+01:00",
    )
    data["categories"]["identity"]["recipients"] = ["ilo", "iom"]
    assert digest(validate_terms(data, known_agencies=DIRECTORY)) == digest(terms())


@settings(max_examples=50, deadline=None)
@given(st.permutations(["unhcr", "iom", "ilo", "gov-de"]), st.permutations(["a-1", "b-2", "c-3"]))
def test_digest_does_not_depend_on_list_order(parties: list[str], purposes: list[str]) -> None:
    base = terms(parties=sorted(parties), purposes=sorted(purposes))
    shuffled = terms(parties=parties, purposes=purposes)
    assert digest(shuffled) == digest(base)


def test_any_change_of_meaning_changes_the_digest() -> None:
    base = digest(terms())
    assert digest(terms(retention_days=366)) != base
    assert digest(terms(onward_sharing=True)) != base
    assert digest(terms(encryption="hpke-mlkem768-x25519")) != base


def test_signed_form_binds_agreement_id_and_version_against_replay() -> None:
    t = terms()
    one = digest(t, agreement=AgreementRef(id="a", version=1))
    other = digest(t, agreement=AgreementRef(id="b", version=1))
    assert len({digest(t), one, other, digest(t, agreement=AgreementRef(id="a", version=2))}) == 4
    assert canonical(t, agreement=AgreementRef(id="a", version=1))["agreement"] == {
        "id": "a",
        "version": 1,
    }


# --- lifecycle ---------------------------------------------------------------------------


def test_draft_is_proposed_then_active_once_every_party_signed_the_same_digest() -> None:
    state = proposed()
    assert state.status == AgreementStatus.PROPOSED
    state = sign(state, sig("unhcr"), digest=state.digest, at=T0)
    state = sign(state, sig("iom"), digest=state.digest, at=T0)
    assert state.status == AgreementStatus.PROPOSED
    assert state.unsigned_parties() == ("ilo",)
    state = sign(state, sig("ilo"), digest=state.digest, at=T0)
    assert state.status == AgreementStatus.ACTIVE
    assert [s.agency for s in state.current_signatures()] == ["unhcr", "iom", "ilo"]
    assert [h.action for h in state.history] == [
        "draft",
        "propose",
        "sign",
        "sign",
        "sign",
        "activate",
    ]


def test_only_a_party_can_draft_an_agreement() -> None:
    with pytest.raises(NotAParty):
        new_draft("x", terms(), by="gov-de", at=T0)


def test_signature_by_a_non_party_is_refused() -> None:
    state = proposed()
    with pytest.raises(NotAParty, match="gov-de is not a party"):
        sign(state, sig("gov-de"), digest=state.digest, at=T0)


def test_signature_over_a_stale_digest_is_refused() -> None:
    state = proposed()
    old = state.digest
    state = propose(revise(state, terms(retention_days=30), by="iom", at=T0), by="iom", at=T0)
    with pytest.raises(StaleDigest) as caught:
        sign(state, sig("unhcr"), digest=old, at=T0)
    assert caught.value.current == state.digest


def test_revising_a_proposal_makes_the_next_version_a_draft_without_its_signatures() -> None:
    state = proposed()
    state = sign(state, sig("unhcr"), digest=state.digest, at=T0)
    revised = revise(state, terms(retention_days=30), by="iom", at=T0)
    assert revised.status == AgreementStatus.DRAFT
    assert revised.signatures == ()
    assert revised.digest != state.digest
    # The other parties hold version 1 as proposed; it is never rewritten.
    assert (revised.id, revised.version) == (state.id, state.version + 1)


def test_revising_a_draft_keeps_its_version() -> None:
    draft = new_draft("x", terms(), by="unhcr", at=T0)
    assert revise(draft, terms(retention_days=30), by="unhcr", at=T0).version == 1


def test_a_draft_cannot_be_signed() -> None:
    state = new_draft("x", terms(), by="unhcr", at=T0)
    with pytest.raises(InvalidTransition):
        sign(state, sig("unhcr"), digest=state.digest, at=T0)


def test_an_active_agreement_cannot_be_revised_only_amended() -> None:
    with pytest.raises(InvalidTransition):
        revise(active(), terms(retention_days=30), by="unhcr", at=T0)


def test_signing_again_replaces_the_partys_earlier_signature() -> None:
    state = proposed()
    state = sign(state, sig("unhcr", "k1"), digest=state.digest, at=T0)
    state = sign(state, sig("unhcr", "k2"), digest=state.digest, at=T0)
    assert [s.kid for s in state.current_signatures()] == ["unhcr-k2"]


def test_proposal_past_valid_until_can_no_longer_be_signed() -> None:
    state = proposed()
    with pytest.raises(InvalidTransition, match="expired"):
        sign(state, sig("unhcr"), digest=state.digest, at=datetime(2027, 2, 1, tzinfo=UTC))


def test_draft_past_valid_until_cannot_be_proposed() -> None:
    state = new_draft("x", terms(), by="unhcr", at=T0)
    with pytest.raises(InvalidTransition, match="has passed"):
        propose(state, by="unhcr", at=datetime(2027, 2, 1, tzinfo=UTC))


def test_any_party_suspends_and_only_when_every_suspender_resumed_is_it_active_again() -> None:
    state = suspend(active(), by="iom", at=T0, reason="data breach at a partner")
    state = suspend(state, by="ilo", at=T0, reason="review")
    assert state.status == AgreementStatus.SUSPENDED
    with pytest.raises(InvalidTransition, match="only iom, ilo can resume"):
        resume(state, by="unhcr", at=T0)
    state = resume(state, by="iom", at=T0)
    assert state.status == AgreementStatus.SUSPENDED
    state = resume(state, by="ilo", at=T0)
    assert state.status == AgreementStatus.ACTIVE


def test_a_non_party_cannot_suspend() -> None:
    with pytest.raises(NotAParty):
        suspend(active(), by="gov-de", at=T0, reason="x")


def test_suspending_twice_by_the_same_party_is_refused() -> None:
    state = suspend(active(), by="iom", at=T0, reason="x")
    with pytest.raises(InvalidTransition):
        suspend(state, by="iom", at=T0, reason="x")


def test_terminated_agreement_is_final() -> None:
    state = terminate(active(), by="ilo", at=T0, reason="programme closed")
    assert state.status == AgreementStatus.TERMINATED
    for action in (
        lambda s: suspend(s, by="iom", at=T0, reason="x"),
        lambda s: terminate(s, by="iom", at=T0, reason="x"),
        lambda s: amend(s, terms(), by="iom", at=T0),
    ):
        with pytest.raises(InvalidTransition):
            action(state)


def test_effective_status_is_expired_past_valid_until() -> None:
    state = active()
    assert effective_status(state, datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "active"
    assert effective_status(state, datetime(2027, 1, 1, tzinfo=UTC)) == "expired"
    suspended = suspend(state, by="iom", at=T0, reason="x")
    assert effective_status(suspended, datetime(2027, 1, 2, tzinfo=UTC)) == "expired"


def test_effective_status_is_not_yet_valid_before_valid_from() -> None:
    state = active(valid_from="2026-03-01T00:00:00Z")
    assert effective_status(state, T0) == AgreementStatus.NOT_YET_VALID
    assert effective_status(state, datetime(2026, 3, 1, tzinfo=UTC)) == AgreementStatus.ACTIVE


def test_terminated_and_draft_keep_their_status_past_valid_until() -> None:
    later = datetime(2030, 1, 1, tzinfo=UTC)
    assert effective_status(terminate(active(), by="iom", at=T0, reason="x"), later) == "terminated"
    assert effective_status(new_draft("x", terms(), by="iom", at=T0), later) == "draft"


def test_expire_records_the_status_once_valid_until_passed() -> None:
    with pytest.raises(InvalidTransition):
        expire(active(), at=T0)
    state = expire(active(), at=datetime(2027, 1, 1, tzinfo=UTC))
    assert state.status == AgreementStatus.EXPIRED
    assert state.history[-1].action == "expire"


def test_amendment_is_a_new_version_that_supersedes_once_active() -> None:
    v1 = active()
    v2 = amend(v1, terms(retention_days=180), by="iom", at=T0)
    assert (v2.id, v2.version, v2.status) == (v1.id, 2, AgreementStatus.DRAFT)
    assert v2.supersedes == v1.ref
    assert v2.canonical()["supersedes"] == {"id": v1.id, "version": 1}
    with pytest.raises(InvalidTransition, match="not active yet"):
        supersede(v1, successor=v2, at=T0)
    v2 = propose(v2, by="iom", at=T0)
    for party in ("unhcr", "iom", "ilo"):
        v2 = sign(v2, sig(party), digest=v2.digest, at=T0)
    retired = supersede(v1, successor=v2, at=T0)
    assert retired.status == AgreementStatus.SUPERSEDED
    assert retired.superseded_by == v2.ref


def test_an_amendment_retires_the_old_version_only_once_every_old_party_signed_it() -> None:
    v1 = active()
    # iom and ilo drop unhcr from the terms and sign between themselves.
    v2 = amend(
        v1,
        terms(
            parties=["iom", "ilo"],
            categories={
                "skills": {
                    "senders": ["iom"],
                    "recipients": ["ilo"],
                    "data_roles": ["reintegration_officer"],
                },
            },
        ),
        by="iom",
        at=T0,
    )
    v2 = propose(v2, by="iom", at=T0)
    for party in ("iom", "ilo"):
        v2 = sign(v2, sig(party), digest=v2.digest, at=T0)
    assert v2.status == AgreementStatus.ACTIVE
    with pytest.raises(InvalidTransition, match="not signed by unhcr"):
        supersede(v1, successor=v2, at=T0)


def test_a_message_is_refused_from_a_non_party_and_never_rewrites_a_held_version() -> None:
    held = proposed()
    rewritten = propose(
        new_draft(held.id, terms(parties=["unhcr", "iom", "ilo", "gov-de"]), by="gov-de", at=T0),
        by="gov-de",
        at=T0,
    )
    faults = proposal_faults(rewritten, sender="gov-de", recipient="iom", held=held, latest=held)
    assert [f.code for f in faults] == ["held_version_differs"]
    same = proposal_faults(held, sender="iom", recipient="ilo", held=held, latest=held)
    assert same == []
    outsider = proposal_faults(held, sender="gov-de", recipient="iom", held=None, latest=None)
    assert [f.code for f in outsider] == ["sender_not_party"]
    not_ours = proposal_faults(held, sender="unhcr", recipient="gov-de", held=None, latest=None)
    assert [f.code for f in not_ours] == ["recipient_not_party"]


def test_only_a_party_of_the_held_version_proposes_the_next() -> None:
    v1 = active()
    v2 = new_draft(
        v1.id,
        terms(
            parties=["iom", "gov-de"],
            categories={
                "identity": {
                    "senders": ["gov-de"],
                    "recipients": ["iom"],
                    "data_roles": ["counsellor"],
                },
            },
        ),
        by="gov-de",
        at=T0,
        version=2,
        supersedes=v1.ref,
    )
    faults = proposal_faults(
        propose(v2, by="gov-de", at=T0), sender="gov-de", recipient="iom", held=None, latest=v1
    )
    assert [f.code for f in faults] == ["sender_not_party_of_held_version"]


def test_a_node_relays_only_its_own_partys_decisions() -> None:
    assert change_faults(active(), sender="iom", by="iom") == []
    assert [f.code for f in change_faults(active(), sender="gov-de", by="gov-de")] == [
        "sender_not_party"
    ]
    assert [f.code for f in change_faults(active(), sender="iom", by="unhcr")] == [
        "not_own_decision"
    ]


def test_an_unrelated_agreement_cannot_supersede() -> None:
    with pytest.raises(InvalidTransition):
        supersede(active(), successor=active(), at=T0)


def test_state_is_immutable_and_serialisable() -> None:
    state = active()
    with pytest.raises(ValidationError):
        state.status = AgreementStatus.DRAFT  # type: ignore[misc]
    dumped = state.model_dump(mode="json")
    again = AgreementState.model_validate(copy.deepcopy(dumped))
    assert again == state
    assert again.digest == state.digest


def test_an_agreement_id_is_a_token_never_prose() -> None:
    from pydantic import TypeAdapter

    from contracts.agreements import AgreementId

    ids = TypeAdapter(AgreementId)
    assert ids.validate_python("01a227e4-ac4e-7b8b-9d3f-1b2c3d4e5f60")
    for bad in ("Agreement with Amina Haddad", "", "-leading-dash", "x" * 65):
        with pytest.raises(ValidationError):
            ids.validate_python(bad)
