"""A case always has a next step and someone accountable for it (issue 16): a declined, lapsed
or refused referral puts the journey in `needs_attention`, naming who must act, and the owner
drafts again, re-routes to the alternate the programme binds, or records what the SOP allows."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from kit.db.base import utcnow
from services.demo.scenarios import BINDINGS, OWNER, PEOPLE, Person, Step
from services.journeys import repository as journey_rows
from tests.support.markers import sqlite_only


def _amina() -> Person:
    amina = next(p for p in PEOPLE if p.name.startswith("Amina"))
    return replace(amina, script=[])


async def _waiting_for_unhcr(app) -> list[str]:
    async with app.state.db.sessions() as session:
        rows = await journey_rows.waiting_for(session, agency=OWNER, now=utcnow())
    return [str(j.id) for j in rows]


async def _programme(sop, bindings: dict[str, Any]) -> str:
    driver = sop["driver"]
    created = await driver.http.post(
        f"{driver.agencies[OWNER].url}/v1/programmes",
        headers=sop["admins"][OWNER],
        json={
            "title": "With alternates",
            "sop": "avrr-joint@2.1.0",
            "bindings": bindings,
            "agreements": [sop["agreement_id"]],
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _counselling_declined_by_iom(sop, programme_id: str) -> tuple[str, str]:
    driver = sop["driver"]
    person = _amina()
    journey_id, _ = await driver.admit(person, programme_id, sop["valid_until"])
    referrals: list[str] = []
    await driver.act(person, await driver.journey(journey_id), Step("profiling", "profiled"), [])
    journey = await driver.journey(journey_id)
    assert (journey["stage"], journey["acting_agency"]) == ("counselling", "iom")
    referral = journey["referral_id"]
    await driver.ok(OWNER, "focal_point", "POST", f"/v1/referrals/{referral}/approve")
    referrals.append(referral)

    async def arrived() -> bool:
        got = await driver.call("iom", "focal_point", "GET", f"/v1/referrals/{referral}")
        return got.status_code == 200

    await driver.until("the referral at IOM", arrived)
    await driver.ok(
        "iom",
        "focal_point",
        "POST",
        f"/v1/referrals/{referral}/decline",
        json={"reason": "No counsellor for this language this month."},
    )

    async def needs_attention() -> bool:
        return bool((await driver.journey(journey_id))["needs_attention"])

    await driver.until("the decline to reach the journey", needs_attention)
    return journey_id, referral


async def test_a_declined_referral_needs_the_owners_attention_and_goes_to_the_alternate(
    sop, app
) -> None:
    driver = sop["driver"]
    programme_id = await _programme(sop, {**BINDINGS, "return_agency": ["iom", "ilo"]})
    journey_id, declined = await _counselling_declined_by_iom(sop, programme_id)

    journey = await driver.journey(journey_id)
    [reason] = journey["needs_attention"]
    assert reason["code"] == "referral_declined"
    assert reason["who"] == OWNER, "someone accountable: the agency holding the case"
    assert reason["referral_id"] == declined
    assert "No counsellor" not in reason["message"], "the sealed reason stays sealed"
    assert journey["next_steps"] == ["redraft", "reroute", "record:undecided"]
    assert journey_id in await _waiting_for_unhcr(app), "shown under Waiting for me"

    journey = await driver.ok(OWNER, "worker", "POST", f"/v1/journeys/{journey_id}/reroute")
    assert journey["acting_agency"] == "ilo"
    assert journey["needs_attention"] is None
    assert journey["referral_id"] not in (None, declined)
    drafted = await driver.ok(OWNER, "worker", "GET", f"/v1/referrals/{journey['referral_id']}")
    assert drafted["counterpart"] == "ilo"

    assert journey_id not in await _waiting_for_unhcr(app), "it waits for ILO now"
    again = await driver.call(OWNER, "worker", "POST", f"/v1/journeys/{journey_id}/reroute")
    assert again.status_code == 409, "it waits for ILO now: nothing needs attention"


@sqlite_only
async def test_the_owner_may_draft_a_declined_referral_again_to_the_same_agency(sop) -> None:
    driver = sop["driver"]
    programme_id = await _programme(sop, {**BINDINGS, "return_agency": "iom"})
    journey_id, declined = await _counselling_declined_by_iom(sop, programme_id)
    journey = await driver.journey(journey_id)
    assert "reroute" not in journey["next_steps"], "iom alone is bound for counselling"
    no_alternate = await driver.call(OWNER, "worker", "POST", f"/v1/journeys/{journey_id}/reroute")
    assert no_alternate.status_code == 409
    assert no_alternate.json()["type"] == "/problems/no-alternate"

    journey = await driver.ok(OWNER, "worker", "POST", f"/v1/journeys/{journey_id}/referral")
    assert journey["needs_attention"] is None
    assert journey["acting_agency"] == "iom"
    assert journey["referral_id"] not in (None, declined)


async def _at_counselling_with_iom(sop) -> tuple[str, str, str, str]:
    """Amina's journey at counselling, IOM holding the referral; (journey, consent, profiling's
    referral, counselling's referral)."""
    driver = sop["driver"]
    person = _amina()
    journey_id, consent_id = await driver.admit(person, sop["programme_id"], sop["valid_until"])
    referrals: list[str] = []
    await driver.act(
        person, await driver.journey(journey_id), Step("profiling", "profiled"), referrals
    )
    journey = await driver.journey(journey_id)
    counselling = await driver.send_referral(person, journey, referrals)
    return journey_id, consent_id, referrals[0], counselling


@sqlite_only
async def test_the_owner_may_record_what_the_sop_allows_once_the_acting_agency_declined(
    sop,
) -> None:
    driver = sop["driver"]
    journey_id, _ = await _counselling_declined_by_iom(sop, sop["programme_id"])
    path = f"/v1/journeys/{journey_id}/outcomes"
    decided = await driver.call(
        OWNER, "worker", "POST", path, json={"stage": "counselling", "outcome": "decided_to_return"}
    )
    assert decided.status_code == 409, "whether the person decided is not the owner's to say"
    journey = await driver.ok(
        OWNER, "worker", "POST", path, json={"stage": "counselling", "outcome": "undecided"}
    )
    assert journey["stage"] == "counselling", "counselled again later"
    assert journey["needs_attention"] is None
    assert journey["referral_id"] is not None, "a new referral, for the next session"


async def test_taking_back_one_recipient_revokes_only_what_went_to_it(sop) -> None:
    driver = sop["driver"]
    journey_id, consent_id, profiling, counselling = await _at_counselling_with_iom(sop)

    consent = await driver.ok(
        OWNER, "worker", "POST", f"/v1/consents/{consent_id}/narrow", json={"recipients": ["iom"]}
    )

    assert consent["status"] == "given", "the rest of the consent stands"
    assert "iom" not in consent["recipients"]
    assert "gov-de" in consent["recipients"]
    revoked = await driver.ok(OWNER, "worker", "GET", f"/v1/referrals/{counselling}")
    assert revoked["status"] == "revoked"
    kept = await driver.ok(OWNER, "worker", "GET", f"/v1/referrals/{profiling}")
    assert kept["status"] == "completed", "gov-de's profiling did not rest on IOM"
    await driver.until("IOM's erasure receipt", lambda: driver._erased([counselling]))

    journey = await driver.journey(journey_id)
    assert journey["stage"] == "counselling", "a change of mind is not the end of the case"
    assert not journey["ended"]
    [reason] = journey["needs_attention"]
    assert reason["code"] == "referral_revoked"
    assert reason["consent_id"] == consent_id
    assert reason["who"] == OWNER
    # Drafting again now meets the narrowed consent: still blocked, still naming what to do.
    journey = await driver.ok(OWNER, "worker", "POST", f"/v1/journeys/{journey_id}/referral")
    assert journey["needs_attention"]
    assert all(r["who"] == OWNER for r in journey["needs_attention"])


@sqlite_only
async def test_taking_back_every_recipient_is_a_withdrawal_and_ends_the_journey(sop) -> None:
    driver = sop["driver"]
    journey_id, consent_id, _, counselling = await _at_counselling_with_iom(sop)
    consent = await driver.ok(OWNER, "worker", "GET", f"/v1/consents/{consent_id}")
    everyone = consent["recipients"]
    withdrawn = await driver.ok(
        OWNER, "worker", "POST", f"/v1/consents/{consent_id}/narrow", json={"recipients": everyone}
    )
    assert withdrawn["status"] == "withdrawn"
    journey = await driver.journey(journey_id)
    assert journey["stage"] == "withdrawn"
    await driver.until("IOM's erasure receipt", lambda: driver._erased([counselling]))


@sqlite_only
async def test_taking_back_what_the_consent_never_covered_is_refused_with_every_fault(sop) -> None:
    driver = sop["driver"]
    _, consent_id, _, _ = await _at_counselling_with_iom(sop)
    refused = await driver.call(
        OWNER,
        "worker",
        "POST",
        f"/v1/consents/{consent_id}/narrow",
        json={"recipients": ["unknown-agency"], "purposes": ["not-a-purpose"]},
    )
    assert refused.status_code == 422
    faults = refused.json()["errors"]
    assert len(faults) == 2, faults


@sqlite_only
async def test_travel_document_deadlines_come_from_the_programme(sop) -> None:
    driver = sop["driver"]
    url = f"{driver.agencies[OWNER].url}/v1/programmes"
    body = {
        "title": "Readmission agreement: 3 days",
        "sop": "avrr-joint@2.1.0",
        "bindings": BINDINGS,
        "agreements": [sop["agreement_id"]],
    }
    wrong = await driver.http.post(
        url,
        headers=sop["admins"][OWNER],
        json={**body, "deadlines": {"travel_documents": "3 days", "passport_office": "P1D"}},
    )
    assert wrong.status_code == 422
    assert {e["type"] for e in wrong.json()["errors"]} == {
        "deadline_invalid",
        "deadline_stage_unknown",
    }
    created = await driver.http.post(
        url, headers=sop["admins"][OWNER], json={**body, "deadlines": {"travel_documents": "P3D"}}
    )
    assert created.status_code == 201, created.text
    assert created.json()["deadlines"] == {"travel_documents": "P3D"}

    person = _amina()
    journey_id, _ = await driver.admit(person, created.json()["id"], sop["valid_until"])
    for step in (Step("profiling", "profiled"), Step("counselling", "decided_to_return")):
        await driver.act(person, await driver.journey(journey_id), step, [])
    journey = await driver.journey(journey_id)
    assert journey["stage"] == "travel_documents"
    entered = datetime.fromisoformat(journey["history"][-1]["at"])
    assert datetime.fromisoformat(journey["due_at"]) - entered == timedelta(days=3)
