"""contracts.policy: may this disclosure happen, and every reason why not (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.agreements import (
    AgreementState,
    AgreementStatus,
    AgreementTerms,
    LegalBasis,
    Signature,
    new_draft,
    propose,
    sign,
    supersede,
    suspend,
    terminate,
    validate_terms,
)
from contracts.agreements import amend as amend_agreement
from contracts.categories import SENSITIVE_CATEGORIES, Category
from contracts.consent import (
    ConsentRecord,
    ConsentStatus,
    ConsentTerms,
    give,
    validate_consent,
    withdraw,
)
from contracts.consent import supersede as supersede_consent
from contracts.policy import (
    DISCLOSURE_REASON_CODES,
    READING_REASON_CODES,
    RECEIVING_REASON_CODES,
    Decision,
    DirectoryEntry,
    PersonStates,
    PolicyRefused,
    ReasonCode,
    decide,
    decide_received,
    decide_results,
    readable_by_agreement,
)

R = ReasonCode
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
AGREEMENT_ID = "3a5c0e1f-0000-7000-8000-00000000a001"
CONSENT_ID = "7f3a09c1-0000-7000-8000-00000000c001"
PARTIES = ("unhcr", "iom", "ilo", "gov-xk")


def agreement_terms(**changes: Any) -> AgreementTerms:
    data: dict[str, Any] = {
        "title": "AVRR Germany-Kosovo 2026",
        "parties": list(PARTIES),
        "purposes": ["avrr-counselling", "reintegration-employment"],
        "categories": {
            "identity": {
                "senders": ["unhcr", "iom"],
                "recipients": ["unhcr", "iom", "ilo", "gov-xk"],
                "data_roles": ["counsellor"],
            },
            "documents": {
                "senders": ["unhcr"],
                "recipients": ["iom", "gov-xk"],
                "data_roles": ["counsellor"],
            },
            "skills": {
                "senders": ["unhcr"],
                "recipients": ["iom", "ilo"],
                "data_roles": ["reintegration_officer"],
            },
            "health": {"senders": ["unhcr"], "recipients": ["iom"], "data_roles": ["medical"]},
            "protection": {
                "senders": ["unhcr"],
                "recipients": ["iom"],
                "data_roles": ["protection_officer"],
            },
        },
        "retention_days": 365,
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
    }
    data.update(changes)
    return validate_terms(data, known_agencies={*PARTIES, "gov-de"})


def _sig(agency: str) -> Signature:
    return Signature(agency=agency, kid=f"{agency}-1", value="c2ln")


def draft_agreement(**changes: Any) -> AgreementState:
    start = datetime(2025, 12, 1, tzinfo=UTC)
    return new_draft(AGREEMENT_ID, agreement_terms(**changes), by="unhcr", at=start)


def proposed_agreement(**changes: Any) -> AgreementState:
    return propose(draft_agreement(**changes), by="unhcr", at=datetime(2025, 12, 1, tzinfo=UTC))


def signed_by_all(state: AgreementState) -> AgreementState:
    for party in PARTIES:
        state = sign(state, _sig(party), digest=state.digest, at=datetime(2025, 12, 2, tzinfo=UTC))
    return state


def active_agreement(**changes: Any) -> AgreementState:
    return signed_by_all(proposed_agreement(**changes))


def consent(**changes: Any) -> ConsentRecord:
    data: dict[str, Any] = {
        "purposes": ["avrr-counselling"],
        "recipients": ["iom", "ilo", "gov-de"],
        "categories": ["identity", "skills", "health", "protection", "monitoring"],
        "given_by": "self",
        "method": "written",
        "valid_until": "2027-06-30T00:00:00Z",
        "evidence_ref": "file 2026/114",
    }
    data.update(changes)
    terms = validate_consent(data, case_is_child=False, now=NOW - timedelta(days=1))
    return give(CONSENT_ID, terms, given_at=NOW - timedelta(days=1))


ACTIVE = active_agreement()
CONSENT = consent()


@dataclass(frozen=True)
class Disclosure:
    """One question put to the policy; the baseline is allowed."""

    agreement: AgreementState = ACTIVE
    consent: ConsentRecord | None = CONSENT
    sender: str = "unhcr"
    recipient: str = "iom"
    purpose: str = "avrr-counselling"
    categories: tuple[str, ...] = ("identity", "health")
    now: datetime = NOW
    erasure_due: datetime | None = None
    received_under: AgreementState | None = None
    recipient_entry: DirectoryEntry | None = None
    person: PersonStates | None = None

    def decide(self) -> Decision:
        return decide(
            agreement=self.agreement,
            consent=self.consent,
            sender=self.sender,
            recipient=self.recipient,
            purpose=self.purpose,
            categories=self.categories,
            now=self.now,
            erasure_due=self.erasure_due,
            received_under=self.received_under,
            recipient_entry=self.recipient_entry,
            person=self.person,
        )


BASE = Disclosure()
#: Kosovo's ministry, asked for travel documents; the agreement lets it receive asylum history.
STATES = active_agreement(
    purposes=["avrr-counselling", "travel-documents"],
    categories={
        "identity": {
            "senders": ["unhcr"],
            "recipients": ["iom", "gov-xk"],
            "data_roles": ["counsellor"],
        },
        "documents": {"senders": ["unhcr"], "recipients": ["gov-xk"], "data_roles": ["counsellor"]},
        "asylum_history": {
            "senders": ["unhcr"],
            "recipients": ["gov-xk"],
            "data_roles": ["legal_counsel"],
        },
    },
)
TO_KOSOVO = replace(
    BASE,
    agreement=STATES,
    consent=consent(
        purposes=["travel-documents"],
        recipients=["gov-xk"],
        categories=["identity", "documents", "asylum_history"],
    ),
    recipient="gov-xk",
    purpose="travel-documents",
    categories=("identity", "documents"),
    recipient_entry=DirectoryEntry(kind="government", country="XKX"),
    person=PersonStates(nationalities=frozenset({"XKX"})),
)


def _suspended() -> AgreementState:
    return suspend(ACTIVE, by="iom", at=NOW - timedelta(days=2), reason="breach under review")


def _superseded() -> AgreementState:
    v2 = amend_agreement(ACTIVE, agreement_terms(retention_days=90), by="iom", at=NOW)
    v2 = signed_by_all(propose(v2, by="iom", at=NOW))
    return supersede(ACTIVE, successor=v2, at=NOW)


def _superseded_consent() -> ConsentRecord:
    old, _ = supersede_consent(
        CONSENT, "9b1e0000-0000-7000-8000-00000000c002", CONSENT.terms, at=NOW
    )
    return old


# name -> (the disclosure, every reason code it must give, no more and no fewer)
CASES: dict[str, tuple[Disclosure, set[ReasonCode]]] = {
    # --- each reason alone ---
    "draft agreement": (replace(BASE, agreement=draft_agreement()), {R.AGREEMENT_NOT_SIGNED}),
    "agreement awaiting signatures": (
        replace(BASE, agreement=proposed_agreement()),
        {R.AGREEMENT_NOT_SIGNED},
    ),
    "signed agreement before valid_from": (
        replace(BASE, agreement=active_agreement(valid_from="2026-06-01T00:00:00Z")),
        {R.AGREEMENT_NOT_YET_VALID},
    ),
    "suspended agreement": (replace(BASE, agreement=_suspended()), {R.AGREEMENT_SUSPENDED}),
    "terminated agreement": (
        replace(BASE, agreement=terminate(ACTIVE, by="ilo", at=NOW, reason="closed")),
        {R.AGREEMENT_TERMINATED},
    ),
    "expired agreement": (
        replace(BASE, now=datetime(2027, 2, 1, tzinfo=UTC)),
        {R.AGREEMENT_EXPIRED},
    ),
    "superseded agreement": (replace(BASE, agreement=_superseded()), {R.AGREEMENT_SUPERSEDED}),
    "sender not a party": (
        replace(BASE, sender="gov-de", recipient="iom", categories=("identity",)),
        {R.SENDER_NOT_PARTY},
    ),
    "recipient not a party": (
        replace(BASE, recipient="gov-de", categories=("identity",)),
        {R.RECIPIENT_NOT_PARTY},
    ),
    "recipient is the sender": (
        replace(
            BASE,
            recipient="unhcr",
            categories=("identity",),
            consent=consent(recipients=["unhcr"]),
        ),
        {R.RECIPIENT_IS_SENDER},
    ),
    "purpose outside the agreement": (
        replace(BASE, purpose="research", consent=consent(purposes=["research"])),
        {R.PURPOSE_NOT_IN_AGREEMENT},
    ),
    "data received under an agreement without onward sharing": (
        replace(BASE, received_under=ACTIVE),
        {R.ONWARD_SHARING_NOT_ALLOWED},
    ),
    "recipient owes an overdue erasure receipt": (
        replace(BASE, erasure_due=NOW - timedelta(hours=1)),
        {R.ERASURE_OVERDUE},
    ),
    "no category named": (replace(BASE, categories=()), {R.NO_CATEGORIES}),
    "category outside the vocabulary": (
        replace(BASE, categories=("identity", "religion")),
        {R.CATEGORY_UNKNOWN},
    ),
    "category outside the agreement": (
        replace(BASE, categories=("identity", "monitoring")),
        {R.CATEGORY_NOT_IN_AGREEMENT},
    ),
    "sender not among the category's senders": (
        replace(BASE, sender="iom", recipient="ilo", categories=("skills",)),
        {R.SENDER_NOT_ALLOWED_FOR_CATEGORY},
    ),
    "category not shared with the recipient": (
        replace(BASE, recipient="ilo", categories=("skills", "health")),
        {R.RECIPIENT_NOT_ALLOWED_FOR_CATEGORY},
    ),
    "no consent under a consent basis": (replace(BASE, consent=None), {R.CONSENT_MISSING}),
    "withdrawn consent": (
        replace(BASE, consent=withdraw(CONSENT, at=NOW - timedelta(hours=2))),
        {R.CONSENT_WITHDRAWN},
    ),
    "expired consent": (
        replace(BASE, consent=consent(valid_until="2026-03-01T08:00:00Z")),
        {R.CONSENT_EXPIRED},
    ),
    "superseded consent": (replace(BASE, consent=_superseded_consent()), {R.CONSENT_SUPERSEDED}),
    "consent does not cover the recipient": (
        replace(BASE, recipient="gov-xk", categories=("identity",)),
        {R.CONSENT_RECIPIENT_NOT_COVERED},
    ),
    "consent does not cover the purpose": (
        replace(BASE, purpose="reintegration-employment"),
        {R.CONSENT_PURPOSE_NOT_COVERED},
    ),
    "consent does not cover a category": (
        replace(BASE, categories=("identity", "documents")),
        {R.CONSENT_CATEGORY_NOT_COVERED},
    ),
    "travel documents asked of a state the person is not a national of": (
        replace(TO_KOSOVO, person=PersonStates(nationalities=frozenset({"SRB"}))),
        {R.NOT_STATE_OF_NATIONALITY},
    ),
    "asylum history to the person's own state": (
        replace(TO_KOSOVO, categories=("identity", "asylum_history")),
        {R.COUNTRY_OF_ORIGIN_PROTECTED},
    ),
    # --- in combination ---
    "suspended, consent withdrawn, erasure overdue, category not shared": (
        replace(
            BASE,
            agreement=_suspended(),
            consent=withdraw(CONSENT, at=NOW - timedelta(hours=2)),
            erasure_due=NOW - timedelta(days=1),
            recipient="ilo",
            categories=("identity", "health"),
        ),
        {
            R.AGREEMENT_SUSPENDED,
            R.CONSENT_WITHDRAWN,
            R.ERASURE_OVERDUE,
            R.RECIPIENT_NOT_ALLOWED_FOR_CATEGORY,
        },
    ),
    "neither sender nor recipient a party, wrong purpose, unknown category": (
        replace(
            BASE,
            sender="gov-de",
            recipient="ngo-z",
            purpose="research",
            categories=("identity", "religion"),
        ),
        {
            R.SENDER_NOT_PARTY,
            R.RECIPIENT_NOT_PARTY,
            R.PURPOSE_NOT_IN_AGREEMENT,
            R.CATEGORY_UNKNOWN,
            R.CONSENT_RECIPIENT_NOT_COVERED,
            R.CONSENT_PURPOSE_NOT_COVERED,
        },
    ),
    "draft agreement, no consent, nothing named": (
        replace(BASE, agreement=draft_agreement(), consent=None, categories=()),
        {R.AGREEMENT_NOT_SIGNED, R.CONSENT_MISSING, R.NO_CATEGORIES},
    ),
    "expired agreement and expired consent": (
        replace(BASE, now=datetime(2027, 7, 1, tzinfo=UTC)),
        {R.AGREEMENT_EXPIRED, R.CONSENT_EXPIRED},
    ),
    "one category fails three ways": (
        replace(BASE, sender="iom", recipient="ilo", categories=("identity", "documents")),
        {
            R.SENDER_NOT_ALLOWED_FOR_CATEGORY,
            R.RECIPIENT_NOT_ALLOWED_FOR_CATEGORY,
            R.CONSENT_CATEGORY_NOT_COVERED,
        },
    ),
}


@pytest.mark.parametrize(("disclosure", "expected"), list(CASES.values()), ids=list(CASES))
def test_policy_gives_exactly_the_reasons_that_apply(
    disclosure: Disclosure, expected: set[ReasonCode]
) -> None:
    decision = disclosure.decide()
    assert decision.codes == expected
    assert decision.allowed is False
    assert all(r.message for r in decision.reasons)


def test_baseline_disclosure_is_allowed_with_every_category_requested() -> None:
    decision = BASE.decide()
    assert decision.allowed
    assert decision.reasons == ()
    assert decision.categories_allowed == (Category.IDENTITY, Category.HEALTH)


# (what is read, the data roles held, the reason codes expected)
READING_CASES: dict[str, tuple[tuple[str, ...], set[str], set[ReasonCode]]] = {
    "sensitive category without its data role": (
        ("health",),
        {"counsellor"},
        {R.DATA_ROLE_MISSING},
    ),
    "category outside the vocabulary": (("religion",), {"medical"}, {R.CATEGORY_UNKNOWN}),
    "category outside the agreement": (("monitoring",), set(), {R.CATEGORY_NOT_IN_AGREEMENT}),
}


@pytest.mark.parametrize(
    ("categories", "roles", "expected"), list(READING_CASES.values()), ids=list(READING_CASES)
)
def test_reading_withholds_with_exactly_the_reasons_that_apply(
    categories: tuple[str, ...], roles: set[str], expected: set[ReasonCode]
) -> None:
    readable, withheld = readable_by_agreement(ACTIVE.terms, categories, roles)
    assert readable == ()
    assert {r.code for r in withheld} == expected


def received(**changes: Any) -> Decision:
    """The recipient's re-check of the baseline disclosure, as it arrives (iom receiving)."""
    values: dict[str, Any] = {
        "agreement": ACTIVE,
        "cited_consent": CONSENT.id,
        "consent": CONSENT.scope(),
        "sender": "unhcr",
        "recipient": "iom",
        "purpose": "avrr-counselling",
        "categories": ("identity", "health"),
        "seal_faults": {},
        "now": NOW,
    }
    return decide_received(**(values | changes))


# name -> (what arrived, every reason code the recipient must give)
RECEIVING_CASES: dict[str, tuple[dict[str, Any], set[ReasonCode]]] = {
    "a cited consent whose scope the body does not carry": (
        {"consent": None},
        {R.CONSENT_NOT_CARRIED},
    ),
    "a health category sealed with the classical suite": (
        {"seal_faults": {"health": "must be sealed with hpke-mlkem768-x25519"}},
        {R.SEAL_REFUSED},
    ),
}


@pytest.mark.parametrize(
    ("changes", "expected"), list(RECEIVING_CASES.values()), ids=list(RECEIVING_CASES)
)
def test_the_recipient_refuses_with_exactly_the_reasons_it_alone_can_see(
    changes: dict[str, Any], expected: set[ReasonCode]
) -> None:
    assert {r.code for r in received(**changes).reasons} == expected


def test_the_recipient_decides_as_the_sender_did() -> None:
    assert received().allowed
    for disclosure, codes in CASES.values():
        scope = disclosure.consent.scope() if disclosure.consent else None
        again = received(
            agreement=disclosure.agreement,
            cited_consent=scope.id if scope else None,
            consent=scope,
            sender=disclosure.sender,
            recipient=disclosure.recipient,
            purpose=disclosure.purpose,
            categories=disclosure.categories,
            now=disclosure.now,
            recipient_entry=disclosure.recipient_entry,
            person=disclosure.person,
        )
        # The recipient knows nothing of erasures owed or of where the sender got the data.
        assert {r.code for r in again.reasons} == codes - {
            R.ERASURE_OVERDUE,
            R.ONWARD_SHARING_NOT_ALLOWED,
        }


def test_a_recipient_lists_every_reason_at_once() -> None:
    decision = received(
        purpose="reintegration-housing",
        consent=None,
        seal_faults={"health": "does not open with the recipient's keys"},
    )
    assert {r.code for r in decision.reasons} == {
        R.PURPOSE_NOT_IN_AGREEMENT,
        R.CONSENT_NOT_CARRIED,
        R.SEAL_REFUSED,
    }


def test_results_go_back_under_the_agreement_and_the_referrals_consent() -> None:
    def results(**changes: Any) -> Decision:
        values: dict[str, Any] = {
            "agreement": ACTIVE,
            "consent": CONSENT,
            "sender": "iom",
            "recipient": "unhcr",
            "purpose": "avrr-counselling",
            "categories": ("identity",),
            "now": NOW,
        }
        return decide_results(**(values | changes))

    # The consent names what unhcr may disclose, not what comes back to it.
    assert results().allowed
    assert {r.code for r in results(categories=("skills",)).reasons} == {
        R.SENDER_NOT_ALLOWED_FOR_CATEGORY,
        R.RECIPIENT_NOT_ALLOWED_FOR_CATEGORY,
    }
    assert {r.code for r in results(agreement=_suspended()).reasons} == {R.AGREEMENT_SUSPENDED}
    withdrawn = withdraw(CONSENT, at=NOW - timedelta(hours=1))
    assert {r.code for r in results(consent=withdrawn).reasons} == {R.CONSENT_WITHDRAWN}
    assert {r.code for r in results(purpose="reintegration-employment").reasons} == {
        R.CONSENT_PURPOSE_NOT_COVERED
    }
    assert {r.code for r in results(consent=None).reasons} == {R.CONSENT_MISSING}
    sealed_weakly = results(seal_faults={"identity": "does not open"})
    assert {r.code for r in sealed_weakly.reasons} == {R.SEAL_REFUSED}


def test_every_reason_code_has_a_test_case() -> None:
    decided = {code for _, codes in CASES.values() for code in codes}
    read = {code for _, _, codes in READING_CASES.values() for code in codes}
    receiving = {code for _, codes in RECEIVING_CASES.values() for code in codes}
    assert decided == DISCLOSURE_REASON_CODES
    assert read == READING_REASON_CODES
    assert receiving == RECEIVING_REASON_CODES
    assert decided | read | receiving == set(ReasonCode)


def test_every_reason_code_is_tested_alone() -> None:
    alone = {next(iter(codes)) for _, codes in CASES.values() if len(codes) == 1}
    assert alone == DISCLOSURE_REASON_CODES


# --- the rules, by name ------------------------------------------------------------------


def test_suspended_agreement_refuses_every_disclosure() -> None:
    suspended = _suspended()
    for sender, recipient, categories in [
        ("unhcr", "iom", ("identity",)),
        ("unhcr", "iom", ("health", "protection")),
        ("iom", "ilo", ("identity",)),
        ("unhcr", "gov-xk", ("documents",)),
    ]:
        decision = replace(
            BASE,
            agreement=suspended,
            sender=sender,
            recipient=recipient,
            categories=categories,
            consent=consent(recipients=["iom", "ilo", "gov-xk"], categories=list(categories)),
        ).decide()
        assert decision.codes == {R.AGREEMENT_SUSPENDED}
        assert decision.categories_allowed == ()


def test_withdrawn_consent_refuses_even_where_the_basis_is_not_consent() -> None:
    # The referral cites the consent, so it claims to rest on it: the claim must hold.
    vital = active_agreement(legal_basis="vital_interest")
    decision = replace(
        BASE, agreement=vital, consent=withdraw(CONSENT, at=NOW - timedelta(hours=1))
    ).decide()
    assert decision.codes == {R.CONSENT_WITHDRAWN}


@pytest.mark.parametrize("basis", ["vital_interest", "legal_obligation", "public_interest"])
def test_legal_basis_other_than_consent_needs_no_consent(basis: str) -> None:
    decision = replace(BASE, agreement=active_agreement(legal_basis=basis), consent=None).decide()
    assert decision.allowed


def test_consent_cited_under_another_basis_must_still_cover_the_disclosure() -> None:
    decision = replace(
        BASE,
        agreement=active_agreement(legal_basis="legal_obligation"),
        recipient="gov-xk",
        categories=("documents",),
    ).decide()
    assert decision.codes == {R.CONSENT_RECIPIENT_NOT_COVERED, R.CONSENT_CATEGORY_NOT_COVERED}


def test_data_received_from_another_agency_goes_on_only_where_onward_sharing_is_allowed() -> None:
    assert not replace(BASE, received_under=ACTIVE).decide().allowed
    allowing = active_agreement(onward_sharing=True)
    assert replace(BASE, received_under=allowing).decide().allowed


def test_erasure_receipt_not_yet_due_does_not_block() -> None:
    assert replace(BASE, erasure_due=NOW + timedelta(hours=1)).decide().allowed
    assert not replace(BASE, erasure_due=NOW).decide().allowed


def test_categories_that_could_go_are_listed_when_only_some_categories_fail() -> None:
    decision = replace(
        BASE, recipient="ilo", categories=("identity", "health", "skills", "religion")
    ).decide()
    assert not decision.allowed
    assert decision.categories_allowed == (Category.IDENTITY, Category.SKILLS)
    assert [r.category for r in decision.reasons] == ["health", "religion"]


def test_no_category_is_allowed_when_the_whole_disclosure_is_refused() -> None:
    decision = replace(BASE, consent=None).decide()
    assert decision.categories_allowed == ()


def test_repeated_categories_count_once() -> None:
    decision = replace(BASE, categories=("identity", "identity", "health")).decide()
    assert decision.categories_allowed == (Category.IDENTITY, Category.HEALTH)


def test_reasons_are_in_words_a_focal_point_understands() -> None:
    decision = replace(
        BASE,
        agreement=_suspended(),
        consent=withdraw(CONSENT, at=datetime(2026, 2, 28, 17, 0, tzinfo=UTC)),
        recipient="ilo",
        purpose="research",
        erasure_due=datetime(2026, 2, 27, 14, 0, tzinfo=UTC),
    ).decide()
    assert [r.message for r in decision.reasons] == [
        "agreement 3a5c0e1f… v1 is suspended (by iom)",
        "purpose research is not among the purposes of agreement 3a5c0e1f… v1 "
        "(avrr-counselling, reintegration-employment)",
        "ilo has not confirmed erasure of earlier data under agreement 3a5c0e1f… v1 "
        "(due 2026-02-27 14:00 UTC)",
        "consent 7f3a09c1… was withdrawn on 2026-02-28",
        "consent 7f3a09c1… does not cover purpose research",
        "category health is not shared with ilo under agreement 3a5c0e1f… v1",
    ]
    assert decision.reasons[-1].category == "health"


def test_other_reason_messages_name_the_people_and_things_involved() -> None:
    def message(disclosure: Disclosure) -> str:
        return disclosure.decide().reasons[0].message

    assert message(CASES["sender not a party"][0]) == (
        "sender gov-de is not a party to agreement 3a5c0e1f… v1"
    )
    assert message(CASES["consent does not cover the recipient"][0]) == (
        "consent 7f3a09c1… does not cover recipient gov-xk"
    )
    assert message(CASES["agreement awaiting signatures"][0]) == (
        "agreement 3a5c0e1f… v1 is not in force yet: waiting for the signature of "
        "gov-xk, ilo, iom, unhcr"
    )
    assert message(CASES["expired agreement"][0]) == "agreement 3a5c0e1f… v1 expired on 2027-01-01"
    assert message(CASES["superseded agreement"][0]) == (
        "agreement 3a5c0e1f… v1 was superseded by version 2; cite the version in force"
    )


def test_refusal_raises_policy_refused_with_every_reason() -> None:
    BASE.decide().require_allowed()
    decision = replace(BASE, consent=None, categories=()).decide()
    with pytest.raises(PolicyRefused) as caught:
        decision.require_allowed()
    assert caught.value.reasons == decision.reasons
    assert decision.as_dict()["reasons"][0] == {
        "code": "no_categories",
        "message": "the disclosure names no data category to send",
        "category": None,
    }


# --- role-scoped reading -----------------------------------------------------------------


def test_category_opens_only_for_a_principal_holding_one_of_its_data_roles() -> None:
    categories = ("identity", "health", "protection")
    readable, withheld = readable_by_agreement(ACTIVE.terms, categories, {"medical", "counsellor"})
    assert readable == (Category.IDENTITY, Category.HEALTH)
    [reason] = withheld
    assert reason.category == "protection"
    assert (
        reason.message
        == "reading category protection needs one of the data roles protection_officer"
    )


def test_category_signed_without_named_roles_stays_open_to_every_reader_of_the_recipient() -> None:
    # Drafting refuses such terms now (DESIGN §9); those signed before keep working as signed.
    data = ACTIVE.terms.model_dump()
    for name in ("identity", "skills"):
        data["categories"][name]["data_roles"] = ()
    signed_before = AgreementTerms.model_validate(data)
    readable, withheld = readable_by_agreement(signed_before, ("identity", "skills"), set())
    assert readable == (Category.IDENTITY, Category.SKILLS)
    assert withheld == ()


def test_break_glass_opens_a_withheld_category_where_the_agreement_allows_it() -> None:
    vital = agreement_terms(legal_basis="vital_interest", break_glass=True)
    readable, withheld = readable_by_agreement(
        vital, ("health", "protection"), {"counsellor"}, break_glass={"health"}
    )
    assert readable == (Category.HEALTH,)
    assert [r.category for r in withheld] == ["protection"]


def test_break_glass_is_ignored_where_the_agreement_does_not_allow_it() -> None:
    readable, _ = readable_by_agreement(
        ACTIVE.terms, ("health",), {"counsellor"}, break_glass={"health"}
    )
    assert readable == ()


def test_sensitive_category_without_named_roles_stays_closed() -> None:
    # Validation never lets such terms through; if they appear anyway, reading fails closed.
    terms = ACTIVE.terms.model_construct(
        **{
            **dict(ACTIVE.terms),
            "categories": {
                **ACTIVE.terms.categories,
                Category.HEALTH: ACTIVE.terms.categories[Category.HEALTH].model_copy(
                    update={"data_roles": ()}
                ),
            },
        }
    )
    readable, withheld = readable_by_agreement(terms, ("health",), {"medical", "admin"})
    assert readable == ()
    assert [r.code for r in withheld] == [R.DATA_ROLE_MISSING]


# --- property: allowed exactly when no reason applies ------------------------------------

AGENCIES = ["unhcr", "iom", "ilo", "gov-xk", "gov-de"]
PURPOSES = ["p-a", "p-b", "p-c"]
ALL_CATEGORIES = [c.value for c in Category]

# Each breaks one rule, or tries to: the oracle below judges the result, not the intent.
PERTURBATIONS = [
    "agreement_status",
    "before_valid_from",
    "after_valid_until",
    "sender_outsider",
    "recipient_outsider",
    "recipient_is_sender",
    "purpose_outside",
    "erasure_overdue",
    "erasure_pending",
    "onward_not_allowed",
    "onward_allowed",
    "no_categories",
    "unknown_category",
    "category_outside",
    "category_not_from_sender",
    "category_not_to_recipient",
    "repeat_category",
    "no_consent",
    "consent_withdrawn",
    "consent_superseded",
    "consent_expired",
    "consent_recipient",
    "consent_purpose",
    "consent_category",
]


def subset(pool: list[str], min_size: int = 1) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(pool), min_size=min_size, max_size=len(pool), unique=True)


@st.composite
def worlds(draw: Callable[..., Any], forced: str | None = None) -> Disclosure:
    """An allowed disclosure, then a few perturbations (usually none or one) applied to it;
    ``forced`` is always among them."""
    broken = set(draw(st.lists(st.sampled_from(PERTURBATIONS), max_size=2, unique=True)))
    if forced is not None:
        broken.add(forced)

    # The agreement: sender -> recipient flows for at least the first category.
    parties = draw(subset(AGENCIES, min_size=2))
    sender, recipient = parties[0], parties[1]
    names = draw(subset(ALL_CATEGORIES))
    categories: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        senders = draw(subset(parties))
        recipients = draw(subset(parties))
        if i == 0:
            senders = sorted({*senders, sender})
            recipients = sorted({*recipients, recipient})
        if len(set(senders) | set(recipients)) < 2:
            recipients.append(next(p for p in parties if p not in senders))
        roles = ["medical"] if Category(name) in SENSITIVE_CATEGORIES else []
        categories[name] = {"senders": senders, "recipients": recipients, "data_roles": roles}
    purposes = draw(subset(PURPOSES))
    valid_from = NOW - timedelta(days=draw(st.integers(0, 400)))
    valid_until = NOW + timedelta(days=draw(st.integers(1, 400)))
    if "before_valid_from" in broken:
        valid_from = NOW + timedelta(days=draw(st.integers(1, 30)))
        valid_until = max(valid_until, valid_from + timedelta(days=1))
    if "after_valid_until" in broken:
        valid_until = NOW - timedelta(days=draw(st.integers(0, 30)))
        valid_from = min(valid_from, valid_until - timedelta(days=1))
    basis = draw(st.sampled_from(["consent", "consent", *[b.value for b in LegalBasis]]))
    terms = AgreementTerms.model_validate(
        {
            "title": "t",
            "parties": parties,
            "purposes": purposes,
            "categories": categories,
            "legal_basis": basis,
            "retention_days": 30,
            "valid_from": valid_from,
            "valid_until": valid_until,
        }
    )
    status = AgreementStatus.ACTIVE
    if "agreement_status" in broken:
        status = draw(st.sampled_from(sorted(set(AgreementStatus) - {"active", "not_yet_valid"})))
    agreement = AgreementState(
        id=AGREEMENT_ID,
        terms=terms,
        status=status,
        suspended_by=(parties[0],) if status == AgreementStatus.SUSPENDED else (),
    )

    # The request.
    flowing = [
        n for n, r in categories.items() if sender in r["senders"] and recipient in r["recipients"]
    ]
    requested = draw(st.lists(st.sampled_from(flowing), min_size=1, max_size=3, unique=True))
    outsiders = [a for a in [*AGENCIES, "ngo-z"] if a not in parties]
    if "sender_outsider" in broken:
        sender = draw(st.sampled_from(outsiders))
    if "recipient_outsider" in broken:
        recipient = draw(st.sampled_from(outsiders))
    if "recipient_is_sender" in broken:
        recipient = sender
    purpose = draw(st.sampled_from(purposes))
    if "purpose_outside" in broken:
        purpose = draw(st.sampled_from([p for p in [*PURPOSES, "p-x"] if p not in purposes]))
    extra: dict[str, list[str]] = {
        "unknown_category": ["religion"],
        "category_outside": [c for c in ALL_CATEGORIES if c not in categories],
        "category_not_from_sender": [
            n for n, r in categories.items() if sender not in r["senders"]
        ],
        "category_not_to_recipient": [
            n for n, r in categories.items() if recipient not in r["recipients"]
        ],
        "repeat_category": requested[:1],
    }
    for perturbation, candidates in extra.items():
        if perturbation in broken and candidates:
            requested.insert(
                draw(st.integers(0, len(requested))), draw(st.sampled_from(candidates))
            )
    if "no_categories" in broken:
        requested = []
    erasure_due = None
    if "erasure_overdue" in broken:
        erasure_due = NOW - timedelta(hours=draw(st.integers(0, 48)))
    elif "erasure_pending" in broken:
        erasure_due = NOW + timedelta(hours=draw(st.integers(1, 48)))

    # The consent: covering exactly this request, unless broken.
    consent_record = None
    wants_consent = basis == "consent" or draw(st.booleans())
    if wants_consent and "no_consent" not in broken:
        known = [c for c in dict.fromkeys(requested) if c in ALL_CATEGORIES] or ["identity"]
        covered = draw(subset(ALL_CATEGORIES, min_size=0))
        consent_terms: dict[str, Any] = {
            "purposes": sorted({purpose, *draw(subset(PURPOSES, min_size=0))}),
            "recipients": sorted({recipient, *draw(subset(AGENCIES, min_size=0))}),
            "categories": sorted({*known, *covered}),
            "given_by": "self",
            "method": "written",
            "valid_until": NOW + timedelta(days=draw(st.integers(1, 300))),
        }
        if "consent_recipient" in broken:
            consent_terms["recipients"] = [a for a in AGENCIES if a != recipient][:2]
        if "consent_purpose" in broken:
            consent_terms["purposes"] = [p for p in PURPOSES if p != purpose][:1]
        if "consent_category" in broken:
            dropped = draw(st.sampled_from(known))
            consent_terms["categories"] = [
                c for c in consent_terms["categories"] if c != dropped
            ] or [c for c in ALL_CATEGORIES if c != dropped][:1]
        if "consent_expired" in broken:
            consent_terms["valid_until"] = NOW - timedelta(days=draw(st.integers(0, 30)))
        consent_record = give(
            CONSENT_ID,
            ConsentTerms.model_validate(consent_terms),
            given_at=NOW - timedelta(days=400),
        )
        if "consent_withdrawn" in broken:
            consent_record = withdraw(consent_record, at=NOW - timedelta(days=1))
        elif "consent_superseded" in broken:
            consent_record = supersede_consent(
                consent_record, "next", consent_record.terms, at=NOW - timedelta(days=1)
            )[0]
    received_under = None
    if {"onward_not_allowed", "onward_allowed"} & broken:
        received_under = agreement.model_copy(
            update={
                "terms": terms.model_copy(
                    update={"onward_sharing": "onward_not_allowed" not in broken}
                )
            }
        )
    return Disclosure(
        agreement=agreement,
        consent=consent_record,
        sender=sender,
        recipient=recipient,
        purpose=purpose,
        categories=tuple(requested),
        erasure_due=erasure_due,
        received_under=received_under,
    )


def expected_outcome(d: Disclosure) -> tuple[bool, set[str]]:
    """The rules of DESIGN §5 written out plainly: (allowed, categories that pass on their own)."""
    terms = d.agreement.terms
    in_force = (
        d.agreement.status == AgreementStatus.ACTIVE
        and terms.valid_from <= d.now < terms.valid_until
    )
    c = d.consent
    if c is None:
        consent_ok = terms.legal_basis != "consent"
    else:
        consent_ok = (
            c.status == ConsentStatus.GIVEN
            and d.now < c.terms.valid_until
            and d.recipient in c.terms.recipients
            and d.purpose in c.terms.purposes
        )
    whole_ok = (
        in_force
        and consent_ok
        and d.sender in terms.parties
        and d.recipient in terms.parties
        and d.sender != d.recipient
        and d.purpose in terms.purposes
        and not (d.erasure_due is not None and d.erasure_due <= d.now)
        and (d.received_under is None or d.received_under.terms.onward_sharing)
        and len(d.categories) > 0
    )

    def category_ok(name: str) -> bool:
        if name not in ALL_CATEGORIES or Category(name) not in terms.categories:
            return False
        rule = terms.categories[Category(name)]
        return (
            d.sender in rule.senders
            and d.recipient in rule.recipients
            and (c is None or Category(name) in c.terms.categories)
        )

    passing = {name for name in d.categories if category_ok(name)}
    return whole_ok and passing == set(d.categories), passing if whole_ok else set()


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_disclosure_is_allowed_exactly_when_no_reason_applies(d: Disclosure) -> None:
    check_against_the_rules(d)


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_each_broken_rule_is_judged_as_the_rules_say(
    perturbation: str, data: st.DataObject
) -> None:
    # The same property, with each perturbation guaranteed some examples of its own.
    check_against_the_rules(data.draw(worlds(forced=perturbation)))


def check_against_the_rules(d: Disclosure) -> None:
    decision = d.decide()
    allowed, passing = expected_outcome(d)
    assert decision.allowed == (decision.reasons == ())
    assert decision.allowed == allowed, decision.reasons
    requested = list(dict.fromkeys(d.categories))
    if decision.allowed:
        assert [c.value for c in decision.categories_allowed] == requested
    else:
        assert {c.value for c in decision.categories_allowed} == passing
    flagged = {r.category for r in decision.reasons if r.category is not None}
    assert flagged <= set(requested)
    assert not flagged & {c.value for c in decision.categories_allowed}
