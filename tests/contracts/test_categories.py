"""contracts.categories: the vocabulary of DESIGN §1, its schemas, and the case profile."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from contracts.categories import (
    SCHEMAS,
    SENSITIVE_CATEGORIES,
    Category,
    CategoryDataInvalid,
    is_category,
    validate_case_data,
    validate_category_data,
)

DESIGN_VOCABULARY = [
    "identity",
    "contact",
    "documents",
    "asylum_history",
    "family",
    "specific_needs",
    "health",
    "protection",
    "skills",
    "return_plan",
    "reintegration",
    "monitoring",
    "biometrics",
]

# What a caseworker would enter, one realistic record per category.
EXAMPLES: dict[Category, dict[str, Any]] = {
    Category.IDENTITY: {
        "names": {"given_names": "Arben", "family_name": "Krasniqi", "other_names": ["Beni"]},
        "date_of_birth": "1990-03-14",
        "date_of_birth_estimated": False,
        "sex": "male",
        "nationality": "XKX",
        "nationality_status": "claimed",
        "languages": ["sq", "sr-Latn"],
    },
    Category.CONTACT: {
        "phones": [{"number": "+4915112345678", "kind": "mobile"}],
        "address": {"lines": ["Hauptstr. 1"], "locality": "Berlin", "country": "DEU"},
        "preferred_language": "sq",
        "preferred_channel": "phone",
        "safe_to_contact": True,
    },
    Category.DOCUMENTS: {
        "documents": [
            {
                "kind": "passport",
                "number": "P1234567",
                "issuing_country": "SRB",
                "issued_on": "2012-05-01",
                "expires_on": "2022-05-01",
                "status": "expired",
                "held_by": "authority",
            }
        ],
        "identity_established": True,
        "travel_document_request": {
            "requested_from": "gov-xk",
            "requested_on": "2026-02-01",
            "status": "requested",
        },
    },
    Category.ASYLUM_HISTORY: {
        "claims": [
            {
                "country": "DEU",
                "lodged_on": "2019-09-02",
                "procedure": "regular",
                "decision": "rejected",
                "decided_on": "2021-01-15",
                "appeals": [{"lodged_on": "2021-02-01", "status": "rejected", "suspensive": True}],
                "final": True,
            }
        ],
        "return_order": {"issued_on": "2022-03-01", "voluntary_departure_until": "2022-03-31"},
    },
    Category.FAMILY: {
        "members": [{"relationship": "parent", "location": "country_of_origin"}],
        "guardian": {"name": "Jugendamt Berlin-Mitte", "appointed_on": "2025-11-03"},
        "case_manager": {"name": "M. Weber", "agency": "unhcr"},
        "family_tracing": {"status": "in_progress", "by": "ICRC"},
    },
    Category.SPECIFIC_NEEDS: {
        "child": True,
        "unaccompanied": True,
        "separated": False,
        "stateless": False,
        "mobility": "wheelchair",
        "medical_escort": True,
        "fit_to_travel": "fit_with_medical_escort",
        "disability": False,
        "serious_illness": False,
        "assessed_on": "2026-01-10",
        "assessed_by": "unhcr",
    },
    Category.HEALTH: {
        "conditions": [
            {
                "description": "type 1 diabetes",
                "icd10": "E10.9",
                "chronic": True,
                "treatment_available_in_origin": False,
            }
        ],
        "fit_to_travel": "fit_with_medical_escort",
        "psychosocial_support_needed": True,
    },
    Category.PROTECTION: {
        "risk_assessments": [
            {
                "conducted_on": "2026-01-20",
                "conducted_by": "unhcr",
                "risk_level": "high",
                "risks": ["re_trafficking", "threat_from_state_officials"],
                "return_safe": False,
            }
        ],
        "best_interests_determination": {
            "status": "completed",
            "decided_on": "2026-02-01",
            "recommendation": "stay_in_host_country",
            "child_views_heard": True,
        },
        "protection_needs_analysis": {
            "conducted_on": "2026-01-25",
            "needs_identified": True,
            "recommendation": "subsequent_application",
        },
        "trafficking": {"forms_of_exploitation": ["labour"], "cooperating_with_authorities": True},
        "trafficking_victim": True,
        "survivor_of_violence": True,
        "mental_health_condition": False,
        "ethnic_origin": "Ashkali",
        "political_opinion_at_risk": False,
        "sogi_at_risk": False,
    },
    Category.SKILLS: {
        "education": [{"level": "vocational", "field": "welding", "completed": True}],
        "work_history": [
            {"occupation": "welder", "isco08": "7212", "from_year": 2015, "to_year": 2019}
        ],
        "languages": [{"language": "de", "level": "B1"}],
    },
    Category.RETURN_PLAN: {
        "destination": {"country": "XKX", "locality": "Prizren"},
        "departure_on": "2026-04-02",
        "travel_mode": "air",
        "escort": ["medical"],
        "reception_arranged": True,
    },
    Category.REINTEGRATION: {
        "plan_type": "economic",
        "assistance": [
            {
                "kind": "business_start_up",
                "provider": "iom",
                "amount": "1500.00",
                "currency": "EUR",
                "status": "planned",
            },
            {"kind": "vocational_training", "provider": "ilo"},
        ],
    },
    Category.MONITORING: {
        "monitored_on": "2026-07-01",
        "monitored_by": "unhcr",
        "method": "home_visit",
        "willing_to_remain": True,
        "social_participation": True,
        "meaningful_employment": False,
        "children_language_barrier": True,
        "needs_identified": ["education", "language_support"],
        "referral_recommended_to": ["ilo"],
    },
    Category.BIOMETRICS: {
        "captured_on": "2026-01-12",
        "captured_by": "unhcr",
        "system": "BIMS",
        "fingerprints": {"template_ref": "bims:fp:7f3a91", "fingers": 10},
        "iris": {"template_ref": "bims:iris:7f3a91"},
        "face": {"template_ref": "bims:face:7f3a91"},
        "consent_ref": "cns-91b2",
    },
}


def test_vocabulary_is_exactly_the_categories_of_design() -> None:
    assert [c.value for c in Category] == DESIGN_VOCABULARY


def test_health_protection_and_biometrics_are_the_sensitive_categories() -> None:
    # DESIGN §9: hybrid post-quantum sealing and restricted data roles for these three.
    assert {Category.HEALTH, Category.PROTECTION, Category.BIOMETRICS} == SENSITIVE_CATEGORIES


def test_every_category_has_a_schema() -> None:
    assert set(SCHEMAS) == set(Category)


def test_is_category_accepts_only_the_vocabulary() -> None:
    assert is_category("identity")
    assert not is_category("Identity")
    assert not is_category("medical")


@pytest.mark.parametrize("category", list(Category))
def test_every_category_accepts_an_empty_object_since_every_field_is_optional(
    category: Category,
) -> None:
    assert validate_category_data(category, {}) == {}


@pytest.mark.parametrize("category", list(Category))
def test_realistic_data_of_every_category_validates_and_is_kept_as_entered(
    category: Category,
) -> None:
    data = EXAMPLES[category]
    assert validate_category_data(category.value, data) == data


@pytest.mark.parametrize("category", list(Category))
def test_every_category_refuses_a_field_nobody_agreed_to_share(category: Category) -> None:
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data(category, {**EXAMPLES[category], "religion": "x"})
    [fault] = caught.value.faults
    assert fault.loc == (category.value, "religion")
    assert fault.code == "extra_forbidden"
    assert fault.message == f"is not a field of category {category.value}"


def test_every_bad_field_is_listed_with_its_location() -> None:
    data = {
        "names": {"given_names": "", "nickname": "A"},
        "date_of_birth": "14/03/1990",
        "sex": "M",
        "nationality": "Serbia",
        "languages": ["Albanian"],
    }
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data("identity", data)
    assert caught.value.category == "identity"
    assert {f.loc for f in caught.value.faults} == {
        ("identity", "names", "given_names"),
        ("identity", "names", "nickname"),
        ("identity", "date_of_birth"),
        ("identity", "sex"),
        ("identity", "nationality"),
        ("identity", "languages", 0),
    }
    assert all(f.message for f in caught.value.faults)
    paths = {f.path for f in caught.value.faults}
    assert "identity.languages[0]" in paths


def test_unknown_category_is_refused_naming_the_vocabulary() -> None:
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data("medical", {})
    [fault] = caught.value.faults
    assert "medical is not a data category" in fault.message
    assert "health" in fault.message


def test_category_data_must_be_an_object() -> None:
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data("contact", ["+4915112345678"])
    assert caught.value.faults[0].code == "model_type"


def test_only_supplied_fields_are_returned_with_dates_as_iso_strings() -> None:
    out = validate_category_data("identity", {"date_of_birth": date(1990, 3, 14)})
    assert out == {"date_of_birth": "1990-03-14"}


def test_document_expiring_before_it_was_issued_is_refused_at_its_position() -> None:
    data = {
        "documents": [
            {"kind": "national_id"},
            {"kind": "passport", "issued_on": "2020-01-01", "expires_on": "2019-01-01"},
        ]
    }
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data("documents", data)
    [fault] = caught.value.faults
    assert fault.loc == ("documents", "documents", 1)
    assert fault.message == "expires_on is before issued_on"


def test_monitoring_records_both_sustainability_indicators() -> None:
    fields = set(SCHEMAS[Category.MONITORING].model_fields)
    assert {"willing_to_remain", "social_participation", "meaningful_employment"} <= fields


def test_specific_needs_carries_the_flags_sop_guards_branch_on() -> None:
    fields = set(SCHEMAS[Category.SPECIFIC_NEEDS].model_fields)
    assert {
        "child",
        "unaccompanied",
        "separated",
        "stateless",
        "disability",
        "serious_illness",
    } <= fields


# DESIGN §9: the facts whose disclosure can itself endanger the person.
PROTECTION_SENSITIVE_FACTS = {
    Category.SPECIFIC_NEEDS: [
        "trafficking_victim",
        "survivor_of_violence",
        "mental_health_condition",
    ],
    Category.IDENTITY: ["ethnic_origin"],
}


@pytest.mark.parametrize(
    ("category", "fact"),
    [(category, fact) for category, facts in PROTECTION_SENSITIVE_FACTS.items() for fact in facts],
)
def test_a_protection_sensitive_fact_travels_only_as_protection(
    category: Category, fact: str
) -> None:
    # A survivor of violence's disclosure, a trafficking flag, an ethnic origin: each is refused
    # where any case role reads it, and kept where only the protection roles do.
    value = "Roma" if fact == "ethnic_origin" else True
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data(category, {fact: value})
    [fault] = caught.value.faults
    assert fault.loc == (category.value, fact)
    assert fault.code == "extra_forbidden"
    assert validate_category_data(Category.PROTECTION, {fact: value}) == {fact: value}


def test_protection_records_political_opinion_and_sogi_as_a_risk_not_as_the_opinion() -> None:
    fields = SCHEMAS[Category.PROTECTION].model_fields
    assert {"political_opinion_at_risk", "sogi_at_risk"} <= set(fields)
    # The opinion, orientation or identity itself is never a field: only that it puts the
    # person at risk (UNHCR SOGI guidelines: record what protection needs, no more).
    assert not {"political_opinion", "sexual_orientation", "gender_identity"} & set(fields)
    with pytest.raises(CategoryDataInvalid):
        validate_category_data(Category.PROTECTION, {"sogi_at_risk": "lesbian"})


def test_specific_needs_keeps_the_practical_needs_a_receiving_state_may_need() -> None:
    needs = {"mobility": "wheelchair", "medical_escort": True, "fit_to_travel": "fit"}
    assert validate_category_data(Category.SPECIFIC_NEEDS, needs) == needs


def test_biometrics_hold_template_references_never_images() -> None:
    fields = set(SCHEMAS[Category.BIOMETRICS].model_fields)
    assert {"fingerprints", "face", "captured_on", "captured_by"} <= fields
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data(
            Category.BIOMETRICS, {"face": {"template_ref": "x", "image": "data:image/jpeg;..."}}
        )
    assert [f.loc for f in caught.value.faults] == [("biometrics", "face", "image")]


def test_protection_holds_risk_assessment_bid_and_protection_needs_analysis() -> None:
    fields = set(SCHEMAS[Category.PROTECTION].model_fields)
    assert {
        "risk_assessments",
        "best_interests_determination",
        "protection_needs_analysis",
    } <= fields


def test_completed_bid_without_a_recommendation_is_refused() -> None:
    data = {"best_interests_determination": {"status": "completed", "decided_on": "2026-01-01"}}
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data("protection", data)
    assert "recommendation" in caught.value.faults[0].message


def test_assistance_amount_without_currency_is_refused() -> None:
    data = {"assistance": [{"kind": "pocket_money", "amount": "50"}]}
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_category_data("reintegration", data)
    assert caught.value.faults[0].message == "an amount needs a currency"


def test_case_data_reports_the_faults_of_every_category_together() -> None:
    with pytest.raises(CategoryDataInvalid) as caught:
        validate_case_data(
            {
                "identity": {"sex": "M"},
                "contact": {"phones": [{"number": "0151 123"}]},
                "skills": EXAMPLES[Category.SKILLS],
                "religion": {},
            }
        )
    assert {f.loc[0] for f in caught.value.faults} == {"identity", "contact", "religion"}


def test_case_data_returns_every_category_normalised() -> None:
    data = {c.value: EXAMPLES[c] for c in (Category.IDENTITY, Category.MONITORING)}
    assert validate_case_data(data) == data


def test_category_data_has_exactly_one_field_per_category_in_its_schema() -> None:
    from contracts.categories import CATEGORY_NAMES, CategoryData

    assert set(CategoryData.model_fields) == CATEGORY_NAMES
    for name, field in CategoryData.model_fields.items():
        assert SCHEMAS[Category(name)] in field.annotation.__args__, name
