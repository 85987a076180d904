"""contracts.consent: what the person agreed to, validated, never edited, withdrawable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.consent import (
    ConsentFault,
    ConsentInvalid,
    ConsentStatus,
    GivenBy,
    InvalidTransition,
    effective_status,
    give,
    supersede,
    validate_consent,
    withdraw,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

CHILD_VIEWS = {
    "position": "partly_agrees",
    "summary": "Wants to see his mother again but is afraid of the people he owes money to.",
    "heard_on": "2026-02-27",
    "heard_by": "case manager, Jugendamt Berlin-Mitte",
    "language": "sq",
    "interpreter_used": True,
}


def raw_consent(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "purposes": ["avrr-counselling"],
        "recipients": ["iom", "ilo"],
        "categories": ["identity", "contact", "skills"],
        "given_by": "self",
        "method": "written",
        "valid_until": "2026-12-31T23:59:59Z",
        "evidence_ref": "form AVRR-C1 signed 2026-03-01, file 2026/114",
    }
    data.update(changes)
    return data


def faults_of(data: dict[str, Any], *, child: bool = False) -> list[tuple[str, str]]:
    with pytest.raises(ConsentInvalid) as caught:
        validate_consent(data, case_is_child=child, now=NOW)
    return [(f.path, f.code) for f in caught.value.faults]


def test_adults_own_written_consent_is_accepted() -> None:
    terms = validate_consent(raw_consent(), case_is_child=False, now=NOW)
    assert terms.given_by == GivenBy.SELF
    assert terms.categories == ("identity", "contact", "skills")


def test_child_consent_given_by_self_is_refused() -> None:
    data = raw_consent(child_views=CHILD_VIEWS)
    assert faults_of(data, child=True) == [("given_by", "child_given_by_self")]


def test_child_consent_without_the_childs_views_is_refused() -> None:
    data = raw_consent(given_by="guardian")
    assert faults_of(data, child=True) == [("child_views", "child_views_missing")]


def test_child_views_given_as_null_count_as_missing() -> None:
    data = raw_consent(given_by="guardian", child_views=None)
    assert faults_of(data, child=True) == [("child_views", "child_views_missing")]


@pytest.mark.parametrize("given_by", ["guardian", "legal_representative"])
def test_child_consent_by_guardian_or_legal_representative_with_views_is_accepted(
    given_by: str,
) -> None:
    data = raw_consent(given_by=given_by, child_views=CHILD_VIEWS)
    terms = validate_consent(data, case_is_child=True, now=NOW)
    assert terms.child_views is not None
    assert terms.child_views.position == "partly_agrees"


def test_a_child_too_young_to_form_views_is_recorded_as_such() -> None:
    views = {
        "position": "not_capable_of_forming_views",
        "summary": "18 months old.",
        "heard_on": "2026-02-27",
        "heard_by": "guardian",
    }
    data = raw_consent(given_by="guardian", child_views=views)
    assert validate_consent(data, case_is_child=True, now=NOW).child_views is not None


def test_consent_that_is_over_when_recorded_is_refused() -> None:
    data = raw_consent(valid_until="2026-03-01T08:59:59Z")
    assert faults_of(data) == [("valid_until", "valid_until_passed")]


def test_verbal_consent_without_evidence_is_refused() -> None:
    data = raw_consent(method="verbal")
    del data["evidence_ref"]
    assert faults_of(data) == [("evidence_ref", "evidence_missing")]


def test_written_consent_may_omit_the_evidence_reference() -> None:
    data = raw_consent()
    del data["evidence_ref"]
    assert validate_consent(data, case_is_child=False, now=NOW).evidence_ref is None


def test_category_outside_the_vocabulary_is_refused_at_its_position() -> None:
    data = raw_consent(categories=["identity", "medical_file"])
    with pytest.raises(ConsentInvalid) as caught:
        validate_consent(data, case_is_child=False, now=NOW)
    [fault] = caught.value.faults
    assert (fault.path, fault.code) == ("categories[1]", "category_unknown")
    assert fault.message.startswith("medical_file is not a data category")


def test_every_consent_fault_is_listed_at_once() -> None:
    data = raw_consent(
        categories=["identity", "religion"],
        method="verbal",
        valid_until="2026-01-01T00:00:00Z",
    )
    del data["evidence_ref"]
    found = faults_of(data, child=True)
    assert sorted(found) == sorted(
        [
            ("categories[1]", "category_unknown"),
            ("given_by", "child_given_by_self"),
            ("child_views", "child_views_missing"),
            ("valid_until", "valid_until_passed"),
            ("evidence_ref", "evidence_missing"),
        ]
    )
    assert {code for _, code in found} == {c.value for c in ConsentFault}


def test_malformed_fields_are_reported_together_with_the_rules() -> None:
    data = raw_consent(recipients=["IOM"], method="by phone", child_views={"position": "yes"})
    found = dict(faults_of(data, child=True))
    assert found["recipients[0]"] == "string_pattern_mismatch"
    assert found["method"] == "enum"
    assert found["given_by"] == "child_given_by_self"
    assert "child_views.position" in found
    assert "child_views.summary" in found
    # A malformed child_views is reported as malformed, not also as missing.
    assert "child_views" not in found


def test_consent_names_at_least_one_purpose_recipient_and_category() -> None:
    data = raw_consent(purposes=[], recipients=[], categories=[])
    assert {path for path, _ in faults_of(data)} == {"purposes", "recipients", "categories"}


def test_unknown_fields_are_refused() -> None:
    assert faults_of(raw_consent(scope="everything")) == [("scope", "extra_forbidden")]


def test_naive_valid_until_is_refused() -> None:
    assert faults_of(raw_consent(valid_until="2026-12-31T00:00:00")) == [
        ("valid_until", "timezone_aware")
    ]


# --- lifecycle ---------------------------------------------------------------------------


def record(**changes: Any) -> Any:
    terms = validate_consent(raw_consent(**changes), case_is_child=False, now=NOW)
    return give("7f3a09c1-0000-7000-8000-000000000001", terms, given_at=NOW, case_id="c1")


def test_consent_is_given_until_valid_until_then_expired() -> None:
    consent = record()
    assert effective_status(consent, NOW) == ConsentStatus.GIVEN
    assert effective_status(consent, datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)) == "expired"


def test_withdrawn_consent_is_withdrawn_and_says_when() -> None:
    at = NOW + timedelta(days=3)
    consent = withdraw(record(), at=at, reason="changed my mind")
    assert effective_status(consent, at) == ConsentStatus.WITHDRAWN
    assert consent.withdrawn_at == at
    assert consent.withdrawal_reason == "changed my mind"


def test_withdrawal_needs_no_reason() -> None:
    assert withdraw(record(), at=NOW).withdrawal_reason is None


def test_consent_cannot_be_withdrawn_twice() -> None:
    consent = withdraw(record(), at=NOW)
    with pytest.raises(InvalidTransition, match="already withdrawn"):
        withdraw(consent, at=NOW)


def test_expired_consent_can_still_be_withdrawn_so_holders_erase() -> None:
    later = datetime(2027, 6, 1, tzinfo=UTC)
    assert withdraw(record(), at=later).status == ConsentStatus.WITHDRAWN


def test_a_change_is_a_new_consent_that_supersedes_the_old() -> None:
    old = record()
    narrower = validate_consent(raw_consent(recipients=["iom"]), case_is_child=False, now=NOW)
    retired, new = supersede(old, "9b1e0000-0000-7000-8000-000000000002", narrower, at=NOW)
    assert retired.status == ConsentStatus.SUPERSEDED
    assert retired.superseded_by == new.id
    assert retired.terms == old.terms
    assert new.supersedes == old.id
    assert new.case_id == old.case_id
    assert effective_status(new, NOW) == ConsentStatus.GIVEN
    assert effective_status(retired, NOW) == ConsentStatus.SUPERSEDED


def test_superseded_consent_cannot_be_withdrawn_the_new_one_is() -> None:
    retired, _ = supersede(record(), "9b1e0000-0000-7000-8000-000000000002", record().terms, at=NOW)
    with pytest.raises(InvalidTransition, match="withdraw that one"):
        withdraw(retired, at=NOW)


def test_withdrawn_consent_is_not_renewed_by_superseding() -> None:
    with pytest.raises(InvalidTransition):
        supersede(withdraw(record(), at=NOW), "n", record().terms, at=NOW)


def test_consent_is_never_edited_in_place() -> None:
    consent = record()
    with pytest.raises(ValidationError):
        consent.status = ConsentStatus.WITHDRAWN  # type: ignore[misc]
    with pytest.raises(ValidationError):
        consent.terms.recipients = ("unhcr",)  # type: ignore[misc]
