"""Data only to the right state (DESIGN §7, §9): the joint programme binds the origin authority
per nationality, the journey asks the authority of the person's own state, and the person's own
state never receives their asylum history, whatever the agreement says."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from services.demo.scenarios import BINDINGS, PEOPLE, Person, ScenarioFailed, Step
from tests.support.markers import sqlite_only

AMINA = next(p for p in PEOPLE if p.name.startswith("Amina"))  # a Serbian national


async def _at_travel_documents(sop, person: Person) -> tuple[dict[str, Any], str]:
    """Walk ``person`` through profiling and counselling; the journey and the consent."""
    driver = sop["driver"]
    journey_id, consent_id = await driver.admit(person, sop["programme_id"], sop["valid_until"])
    for step in [Step("profiling", "profiled"), Step("counselling", "decided_to_return")]:
        try:
            await driver.act(person, await driver.journey(journey_id), step, [])
        except ScenarioFailed:
            # The driver stops at a journey blocked on entering the next stage.
            assert step.stage == "counselling"
    journey = await driver.journey(journey_id)
    assert journey["stage"] == "travel_documents"
    return journey, consent_id


async def _refer(sop, journey: dict[str, Any], consent_id: str, **changes: Any):
    body = {
        "case_id": journey["case_id"],
        "to_agency": "gov-rs",
        "purpose": "travel-documents",
        "agreement_id": sop["agreement_id"],
        "consent_id": consent_id,
        "categories": ["identity", "documents"],
    } | changes
    return await sop["driver"].call("unhcr", "focal_point", "POST", "/v1/referrals", json=body)


def _codes(response) -> set[tuple[str, str | None]]:
    return {(v["code"], v.get("category")) for v in response.json()["violations"]}


async def test_a_serbian_nationals_travel_document_request_goes_to_serbias_authority(sop):
    journey, _ = await _at_travel_documents(sop, AMINA)

    assert journey["acting_agency"] == "gov-rs"
    referral = await sop["driver"].ok(
        "unhcr", "worker", "GET", f"/v1/referrals/{journey['referral_id']}"
    )
    assert referral["counterpart"] == "gov-rs"
    assert referral["purpose"] == "travel-documents"


@sqlite_only
async def test_a_kosovar_childs_travel_document_request_goes_to_kosovos_authority(sop):
    luan = next(p for p in PEOPLE if p.name.startswith("Luan"))
    result = await sop["driver"].run(
        replace(luan, script=luan.script[:3]), sop["programme_id"], sop["valid_until"]
    )
    assert result["journey"]["stage"] == "travel_documents"
    assert result["journey"]["acting_agency"] == "gov-xk"


async def test_a_serbian_nationals_travel_document_request_is_refused_to_kosovos_authority(sop):
    journey, consent_id = await _at_travel_documents(sop, AMINA)

    response = await _refer(sop, journey, consent_id, to_agency="gov-xk")

    assert response.status_code == 403, response.text
    assert response.json()["type"] == "/problems/policy-refused"
    assert _codes(response) == {("not_state_of_nationality", None)}
    assert "SRB" not in response.text, "the refusal names no personal data"


async def test_asylum_history_is_refused_to_the_origin_state_even_under_an_agreement_that_allows_it(
    sop,
):
    # The joint agreement lets UNHCR send every category to every partner, gov-rs included.
    journey, consent_id = await _at_travel_documents(sop, AMINA)

    response = await _refer(
        sop, journey, consent_id, categories=["identity", "documents", "asylum_history"]
    )

    assert response.status_code == 403
    assert _codes(response) == {("country_of_origin_protected", "asylum_history")}


@sqlite_only
async def test_asylum_history_may_go_to_the_host_state(sop):
    """Profiling sends the host authority (gov-de) the asylum history: not the person's state."""
    journey, _ = await _at_travel_documents(sop, AMINA)
    assert journey["history"][0]["stage"] == "profiling"


@sqlite_only
async def test_a_journey_cannot_pick_an_origin_authority_without_a_nationality(sop):
    data = {**AMINA.data, "identity": {"names": {"given_names": "Nadia"}}}
    unknown = replace(
        AMINA,
        name="Nadia (nationality unknown)",
        profile={**AMINA.profile, "nationality": None},
        data=data,
    )
    journey, _ = await _at_travel_documents(sop, unknown)

    assert journey["acting_agency"] is None
    assert journey["referral_id"] is None
    assert [b["code"] for b in journey["blocked"]] == ["nationality_unknown"]
    assert "origin_authority" in journey["blocked"][0]["message"]
    # Nobody records the stage's outcome in the meantime.
    refused = await sop["driver"].call(
        "unhcr",
        "worker",
        "POST",
        f"/v1/journeys/{journey['id']}/outcomes",
        json={"stage": "travel_documents", "outcome": "issued"},
    )
    assert refused.status_code == 409

    # Once the nationality is recorded, the journey drafts the request to that state.
    patched = await sop["driver"].call(
        "unhcr",
        "worker",
        "PATCH",
        f"/v1/cases/{journey['case_id']}/profile",
        json={"nationality": "XKX"},
    )
    assert patched.status_code == 200, patched.text
    redrafted = await sop["driver"].ok(
        "unhcr", "worker", "POST", f"/v1/journeys/{journey['id']}/referral"
    )
    assert redrafted["acting_agency"] == "gov-xk"
    assert redrafted["referral_id"] is not None


@sqlite_only
async def test_a_programme_with_malformed_bindings_is_refused_with_every_fault(sop, client):
    bindings = {
        **BINDINGS,
        "return_agency": {"SRB": "iom"},
        "origin_authority": {"RS": "gov-rs", "XKX": []},
    }
    response = await client.post(
        "/v1/programmes",
        headers=sop["admins"]["unhcr"],
        json={
            "title": "Malformed",
            "sop": "avrr-joint@2.1.0",
            "bindings": bindings,
            "agreements": [sop["agreement_id"]],
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert {(e["location"], e["type"]) for e in body["errors"]} == {
        ("body.bindings.return_agency", "binding_not_per_nationality"),
        ("body.bindings.origin_authority.RS", "country_code_invalid"),
        ("body.bindings.origin_authority.XKX", "binding_empty"),
    }
