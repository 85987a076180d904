"""contracts.profile: the facts SOP guards read, every one optional, children known by age."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from contracts.profile import CaseProfile

DESIGN_PROFILE_FACTS = {
    "date_of_birth",
    "is_child",
    "unaccompanied",
    "separated",
    "trafficking_victim",
    "stateless",
    "nationality",
    "country_of_origin",
    "serious_illness",
    "years_in_host_country",
    "proof_of_work",
    "social_contributions",
    "clean_criminal_record",
    "age",
    "host_language",
    "children_in_school",
    "regional_free_movement",
    "skills_match",
}


def test_case_profile_has_every_fact_design_names() -> None:
    assert set(CaseProfile.model_fields) >= DESIGN_PROFILE_FACTS


def test_case_profile_facts_are_all_optional() -> None:
    assert CaseProfile().model_dump(exclude_none=True) == {}


def test_case_profile_refuses_an_undeclared_fact() -> None:
    with pytest.raises(ValidationError):
        CaseProfile.model_validate({"is_minor": True})


def test_case_profile_refuses_is_child_contradicting_age() -> None:
    with pytest.raises(ValidationError, match="contradicts age"):
        CaseProfile(age=15, is_child=False)


def test_unaccompanied_person_marked_adult_is_refused() -> None:
    with pytest.raises(ValidationError, match="describe children"):
        CaseProfile(is_child=False, unaccompanied=True)


def test_regional_free_movement_names_the_regime() -> None:
    assert CaseProfile(regional_free_movement="ecowas").regional_free_movement == "ecowas"
    with pytest.raises(ValidationError):
        CaseProfile.model_validate({"regional_free_movement": True})


def test_age_and_childhood_are_derived_from_date_of_birth() -> None:
    profile = CaseProfile(date_of_birth=date(2010, 6, 15))
    assert profile.with_derived(date(2026, 6, 14)).age == 15
    derived = profile.with_derived(date(2028, 6, 15))
    assert (derived.age, derived.is_child) == (18, False)


def test_unaccompanied_person_of_unknown_age_is_treated_as_a_child() -> None:
    assert CaseProfile(unaccompanied=True).with_derived(date(2026, 1, 1)).is_child is True


def test_derivation_never_overwrites_a_fact_the_caseworker_set() -> None:
    profile = CaseProfile(date_of_birth=date(2000, 1, 1), age=30)
    assert profile.with_derived(date(2026, 1, 1)).age == 30


def test_facts_are_the_guard_variables_with_derived_values() -> None:
    facts = CaseProfile(date_of_birth=date(2012, 1, 1), nationality="NGA").facts(date(2026, 1, 1))
    assert facts["age"] == 14
    assert facts["is_child"] is True
    assert facts["nationality"] == "NGA"
    assert facts["date_of_birth"] == "2012-01-01"
    assert set(facts) == set(CaseProfile.model_fields)
