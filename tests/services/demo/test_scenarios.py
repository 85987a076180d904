"""The demo's shipped agreement: what every demo node signs must pass today's drafting rules."""

from __future__ import annotations

from contracts.agreements import validate_terms
from contracts.categories import CATEGORY_NAMES
from services.demo.scenarios import BOUND, OWNER, PEOPLE_DATA_ROLES, agreement_terms

FIELD_ROLES = ("child_protection_officer", "legal_counsel", "reintegration_officer")


def _terms() -> dict:
    return agreement_terms("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")


def test_the_demo_agreement_names_data_roles_for_every_category() -> None:
    terms = _terms()
    assert set(terms["categories"]) == CATEGORY_NAMES
    assert all(t["data_roles"] for t in terms["categories"].values())
    validate_terms(terms, known_agencies={OWNER, *BOUND})


def test_each_field_data_role_gates_a_category_and_demo_people_hold_it() -> None:
    gated = {role for t in _terms()["categories"].values() for role in t["data_roles"]}
    assert set(FIELD_ROLES) <= gated
    assert set(FIELD_ROLES) <= set(PEOPLE_DATA_ROLES)


def test_biometrics_open_to_no_role_that_opens_any_other_category() -> None:
    categories = _terms()["categories"]
    biometric_roles = set(categories["biometrics"]["data_roles"])
    others = {r for name, t in categories.items() if name != "biometrics" for r in t["data_roles"]}
    assert biometric_roles
    assert not biometric_roles & others
