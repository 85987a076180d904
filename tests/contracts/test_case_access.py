"""contracts.case_access: who reads which part of a case at the agency that owns it."""

from __future__ import annotations

import pytest

from auth.scopes import ALL_ROLES
from contracts.case_access import (
    CASE_ROLES,
    PROFILE_FACT_SOURCES,
    RESTRICTED_CATEGORY_ROLES,
    WithheldCode,
    category_access,
    readable_in_own_case,
    readable_profile_facts,
)
from contracts.categories import SENSITIVE_CATEGORIES, Category
from contracts.profile import CaseProfile

EVERY = tuple(Category)


def test_case_roles_are_agency_roles() -> None:
    assert CASE_ROLES <= ALL_ROLES


def test_every_sensitive_category_names_who_may_read_it() -> None:
    assert set(RESTRICTED_CATEGORY_ROLES) == set(SENSITIVE_CATEGORIES)


@pytest.mark.parametrize("role", sorted(CASE_ROLES))
def test_any_case_role_reads_every_category_that_is_not_sensitive(role: str) -> None:
    readable, withheld = readable_in_own_case(EVERY, roles={role}, data_roles=())
    assert set(readable) == set(Category) - SENSITIVE_CATEGORIES
    assert {w.category for w in withheld} == SENSITIVE_CATEGORIES


def test_protection_is_withheld_from_a_caseworker_without_the_protection_officer_role() -> None:
    refusal = category_access(Category.PROTECTION, roles={"caseworker"}, data_roles={"medical"})
    assert refusal is not None
    assert refusal.code == WithheldCode.DATA_ROLE_MISSING
    assert "protection_officer" in refusal.reason
    assert "admin can grant it" in refusal.reason


def test_protection_opens_to_a_protection_officer_and_health_to_medical_staff() -> None:
    assert (
        category_access(
            Category.PROTECTION, roles={"caseworker"}, data_roles={"protection_officer"}
        )
        is None
    )
    assert category_access(Category.HEALTH, roles={"focal_point"}, data_roles={"medical"}) is None
    assert (
        category_access(Category.HEALTH, roles={"caseworker"}, data_roles={"protection_officer"})
        is not None
    )


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_a_principal_without_a_case_role_reads_nothing_whatever_its_data_roles(role: str) -> None:
    readable, withheld = readable_in_own_case(
        EVERY, roles={role}, data_roles={"protection_officer", "medical"}
    )
    assert readable == ()
    assert {w.code for w in withheld} == {WithheldCode.CASE_ROLE_MISSING}
    assert "caseworker or focal_point" in withheld[0].reason


def test_a_data_role_alone_opens_nothing() -> None:
    assert category_access(Category.PROTECTION, roles=(), data_roles={"protection_officer"})


def test_categories_come_back_in_vocabulary_order_once() -> None:
    readable, _ = readable_in_own_case(
        [Category.SKILLS, Category.IDENTITY, Category.SKILLS], roles={"caseworker"}, data_roles=()
    )
    assert readable == (Category.IDENTITY, Category.SKILLS)


def test_every_profile_fact_is_drawn_from_a_category() -> None:
    assert set(PROFILE_FACT_SOURCES) == set(CaseProfile.model_fields)


def test_trafficking_flag_follows_specific_needs_where_the_same_flag_lives() -> None:
    readable, withheld = readable_profile_facts(
        ["trafficking_victim", "serious_illness", "is_child"], roles={"caseworker"}, data_roles=()
    )
    assert readable == ("is_child", "trafficking_victim", "serious_illness")
    assert withheld == ()


def test_profile_is_withheld_from_a_principal_without_a_case_role() -> None:
    readable, withheld = readable_profile_facts(
        ["trafficking_victim", "age"], roles={"admin"}, data_roles=()
    )
    assert readable == ()
    assert [(w.fact, w.code) for w in withheld] == [
        ("age", WithheldCode.CASE_ROLE_MISSING),
        ("trafficking_victim", WithheldCode.CASE_ROLE_MISSING),
    ]
    assert "specific_needs" in withheld[1].reason


def test_a_fact_drawn_from_a_restricted_category_follows_its_data_role() -> None:
    sources = {**PROFILE_FACT_SOURCES, "trafficking_victim": Category.PROTECTION}
    _, withheld = readable_profile_facts(
        ["trafficking_victim"], roles={"caseworker"}, data_roles=(), sources=sources
    )
    assert [w.code for w in withheld] == [WithheldCode.DATA_ROLE_MISSING]
    readable, _ = readable_profile_facts(
        ["trafficking_victim"],
        roles={"caseworker"},
        data_roles={"protection_officer"},
        sources=sources,
    )
    assert readable == ("trafficking_victim",)


def test_an_unclassified_fact_is_withheld_from_everyone() -> None:
    readable, withheld = readable_profile_facts(
        ["new_fact"], roles=CASE_ROLES, data_roles={"protection_officer", "medical"}
    )
    assert readable == ()
    assert withheld[0].code == WithheldCode.FACT_UNCLASSIFIED


def test_biometrics_open_only_to_their_own_data_role_not_to_protection_or_medical() -> None:
    # The most restricted category: neither a protection officer nor medical staff reads
    # fingerprint and face templates by virtue of their other data roles.
    for other in ({"protection_officer", "medical", "child_protection_officer"}, set()):
        refusal = category_access(Category.BIOMETRICS, roles={"caseworker"}, data_roles=other)
        assert refusal is not None
        assert refusal.code == WithheldCode.DATA_ROLE_MISSING
    assert (
        category_access(
            Category.BIOMETRICS, roles={"caseworker"}, data_roles={"biometrics_officer"}
        )
        is None
    )
