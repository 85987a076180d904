"""The joint SOP decides who acts at each stage; the scenarios read like the SOP."""

from __future__ import annotations

import pytest

from services.demo.scenarios import PEOPLE, Person
from tests.support.markers import sqlite_only


def _person(name: str) -> Person:
    return next(p for p in PEOPLE if p.name.startswith(name))


async def _walk(sop, name: str) -> dict:
    person = _person(name)
    result = await sop["driver"].run(person, sop["programme_id"], sop["valid_until"])
    journey = result["journey"]
    assert journey["stage"] == person.expected_end_stage, journey
    return result


def _visited(result: dict) -> list[str]:
    return [h["stage"] for h in result["journey"]["history"]]


async def test_an_adult_who_decides_to_return_goes_all_the_way_to_monitoring(sop) -> None:
    result = await _walk(sop, "Amina")
    assert _visited(result) == [
        "profiling",
        "counselling",
        "travel_documents",
        "departure",
        "reception",
        "reintegration",
        "employment_and_skills",
        "post_return_monitoring",
        "closed",
    ]
    # ILO acted for employment; both sustainability indicators were recorded at monitoring.
    assert len(result["referrals"]) == 7


@sqlite_only
async def test_an_unaccompanied_child_cannot_depart_without_a_bid_by_unhcr(sop) -> None:
    result = await _walk(sop, "Luan")
    visited = _visited(result)
    assert visited.index("bid") < visited.index("escorted_departure")
    assert "departure" not in visited, "a child leaves only with an escort"


@sqlite_only
async def test_a_trafficking_victim_passes_the_risk_assessment(sop) -> None:
    result = await _walk(sop, "Mira")
    assert _visited(result)[:3] == [
        "profiling",
        "trafficking_risk_assessment",
        "protection_needs_analysis",
    ]


@sqlite_only
async def test_a_stateless_person_passes_documentation(sop) -> None:
    result = await _walk(sop, "Dren")
    assert "statelessness_documentation" in _visited(result)


async def test_a_person_who_withdraws_at_travel_documents_is_erased_downstream(sop) -> None:
    result = await _walk(sop, "Sefa")
    assert _visited(result)[-2:] == ["travel_documents", "withdrawn"]
    assert result["erasures"] == 3, "gov-de, iom and gov-rs each returned a signed receipt"


@sqlite_only
async def test_a_person_eligible_for_regularization_goes_to_review_not_counselling(sop) -> None:
    result = await _walk(sop, "Carlos")
    assert _visited(result) == ["profiling", "regularization_review", "regularized"]


@sqlite_only
async def test_a_trafficking_victim_assessed_low_risk_returns_with_an_escort_and_is_monitored(
    sop,
) -> None:
    result = await _walk(sop, "Elena")
    visited = _visited(result)
    assert visited.index("protection_needs_analysis") < visited.index("escorted_departure")
    assert visited[-2:] == ["post_return_monitoring", "closed"]


@sqlite_only
async def test_a_child_found_unaccompanied_late_is_diverted_to_the_bid_before_departure(
    sop,
) -> None:
    history = (await _walk(sop, "Arben"))["journey"]["history"]
    diverted = next(h for h in history if h["outcome"] == "diverted")
    assert (diverted["stage"], diverted["because"]) == ("counselling", ["unaccompanied"])
    stages = [h["stage"] for h in history]
    assert stages.index("bid") < stages.index("escorted_departure")


@sqlite_only
async def test_a_referral_iom_declines_is_re_routed_to_caritas(sop) -> None:
    result = await _walk(sop, "Hana")
    assert len(result["referrals"]) == 6, "IOM's declined one, Caritas's, and four more"


@sqlite_only
async def test_a_hardship_commission_recommends_and_the_interior_ministry_endorses(sop) -> None:
    assert _visited(await _walk(sop, "Nadia")) == [
        "profiling",
        "hardship_commission",
        "hardship_endorsement",
        "hardship_residence",
    ]


@sqlite_only
async def test_a_skilled_worker_is_admitted_by_the_host_authority_on_ilos_advice(sop) -> None:
    assert _visited(await _walk(sop, "Kwame"))[1:] == [
        "labour_market_advice",
        "legal_migration_channel",
        "legal_channel_admission",
    ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_outcome_the_stage_does_not_define_is_refused_with_the_allowed_ones(sop) -> None:
    driver = sop["driver"]
    journey_id, _ = await driver.admit(_person("Amina"), sop["programme_id"], sop["valid_until"])
    wrong = await driver.call(
        "unhcr",
        "worker",
        "POST",
        f"/v1/journeys/{journey_id}/outcomes",
        json={"stage": "profiling", "outcome": "profiled"},
    )
    assert wrong.status_code == 409, "UNHCR does not act at profiling; gov-de does"
    body = wrong.json()
    assert body["acting_agency"] == "gov-de"
    assert body["allowed_outcomes"] == ["profiled", "withdraw"]
