"""Protection at runtime (DESIGN §9), across the demo federation: safeguards that follow the
facts when they turn up late, a runtime guard that does not trust the SOP, and a declined
counselling that reaches no one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.audit.models import AuditEvent
from services.demo.scenarios import BINDINGS, OWNER, PEOPLE, Person, Step
from services.sops.models import SopDefinition
from sop.loader import SHIPPED_DIR
from tests.support.markers import sqlite_only

pytestmark = sqlite_only


def _amina(**profile: Any) -> Person:
    amina = next(p for p in PEOPLE if p.name.startswith("Amina"))
    return replace(amina, profile={**amina.profile, **profile}, script=[])


async def _case_of(driver, journey_id: str) -> str:
    return str((await driver.journey(journey_id))["case_id"])


async def _step(driver, person: Person, journey_id: str, step: Step, referrals: list[str]) -> dict:
    await driver.act(person, await driver.journey(journey_id), step, referrals)
    return await driver.journey(journey_id)


async def _patch_profile(driver, journey_id: str, **facts: Any) -> dict:
    case_id = await _case_of(driver, journey_id)
    await driver.ok(OWNER, "worker", "PATCH", f"/v1/cases/{case_id}/profile", json=facts)
    return await driver.journey(journey_id)


async def test_a_child_identified_as_unaccompanied_at_counselling_is_diverted_to_the_bid(
    sop, app
) -> None:
    driver = sop["driver"]
    child = _amina(date_of_birth="2011-06-01", is_child=True)
    journey_id, _ = await driver.admit(child, sop["programme_id"], sop["valid_until"])
    referrals: list[str] = []
    journey = await _step(driver, child, journey_id, Step("profiling", "profiled"), referrals)
    assert journey["stage"] == "counselling"
    counselling = await driver.send_referral(child, journey, referrals)  # IOM accepted it

    journey = await _patch_profile(driver, journey_id, unaccompanied=True)

    assert journey["stage"] == "bid"
    left = journey["history"][-2]
    assert (left["stage"], left["outcome"]) == ("counselling", "diverted")
    assert left["because"] == ["unaccompanied"], "the fact's name, never its value"
    # IOM is told, stops, and erases what it received: its signed receipt comes back.
    await driver.until("IOM's erasure receipt", lambda: driver._erased([counselling]))
    at_iom = await driver.call("iom", "focal_point", "GET", f"/v1/referrals/{counselling}")
    assert at_iom.status_code == 410
    assert at_iom.json()["reason"] == "cancelled"
    async with app.state.db.sessions() as session:
        diverted = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "journey.diverted"))
        ).one()
    assert diverted.detail["because"] == ["unaccompanied"]
    assert "true" not in str(diverted.detail).lower()


async def test_a_victim_found_at_travel_documents_is_assessed_and_a_high_risk_never_departs(
    sop,
) -> None:
    driver = sop["driver"]
    person = _amina()
    journey_id, _ = await driver.admit(person, sop["programme_id"], sop["valid_until"])
    referrals: list[str] = []
    await _step(driver, person, journey_id, Step("profiling", "profiled"), referrals)
    journey = await _step(
        driver, person, journey_id, Step("counselling", "decided_to_return"), referrals
    )
    assert journey["stage"] == "travel_documents"
    travel_documents = journey["referral_id"]

    journey = await _patch_profile(driver, journey_id, trafficking_victim=True)
    assert journey["stage"] == "trafficking_risk_assessment"
    assert journey["history"][-2]["because"] == ["trafficking_victim"]
    drafted = await driver.ok(OWNER, "worker", "GET", f"/v1/referrals/{travel_documents}")
    assert drafted["status"] == "cancelled", "the origin state never receives it"

    outcome = {"stage": "trafficking_risk_assessment", "outcome": "high_risk"}
    path = f"/v1/journeys/{journey_id}/outcomes"
    unreferenced = await driver.call(OWNER, "worker", "POST", path, json=outcome)
    assert unreferenced.status_code == 422
    assert unreferenced.json()["type"] == "/problems/decision-ref-missing"
    journey = await driver.ok(
        OWNER, "worker", "POST", path, json={**outcome, "decision_ref": "TRA-2026-040"}
    )
    assert journey["stage"] == "protection_referral"
    assert journey["ended"]
    assessment = journey["history"][-2]
    assert assessment["decision_ref"] == "TRA-2026-040"
    assert assessment["decided_by"].startswith(f"{OWNER}/")


async def test_a_declined_counselling_sends_nothing_anywhere(sop) -> None:
    driver = sop["driver"]
    person = _amina()

    async def outgoing() -> list[tuple[str, str]]:
        listed = await driver.ok(OWNER, "worker", "GET", "/v1/referrals?direction=outgoing")
        return sorted((r["stage"], r["counterpart"]) for r in listed["items"])

    before = await outgoing()
    journey_id, _ = await driver.admit(person, sop["programme_id"], sop["valid_until"])
    referrals: list[str] = []
    await _step(driver, person, journey_id, Step("profiling", "profiled"), referrals)
    journey = await _step(driver, person, journey_id, Step("counselling", "declined"), referrals)
    assert journey["stage"] == "return_declined"
    assert journey["ended"]
    assert journey["referral_id"] is None
    after = await outgoing()
    for sent in before:
        after.remove(sent)
    assert after == [("counselling", "iom"), ("profiling", "gov-de")], "nothing after counselling"


def _skipping_the_bid() -> str:
    """avrr-joint as an admin might hand-edit it: no interrupts, and profiling straight to
    counselling. It fails `accord sop check`; here it is stored as if it had been loaded."""
    text = (SHIPPED_DIR / "avrr-joint.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 2.1.0", "version: 2.1.1")
    text = text[: text.index("interrupts:\n")] + text[text.index("stages:\n") :]
    start = text.index("      profiled:\n")
    end = text.index("  - id: trafficking_risk_assessment")
    return text[:start] + "      profiled: counselling\n\n" + text[end:]


async def _hand_edited_programme(sop, app) -> str:
    """A programme on the hand-edited SOP, stored as an older node would have stored it: the
    upload's verification is not run again when a definition is read."""
    driver = sop["driver"]
    async with app.state.db.sessions.begin() as session:
        session.add(
            SopDefinition(
                agency=OWNER,
                id="avrr-joint",
                version="2.1.1",
                title="hand-edited",
                source=_skipping_the_bid(),
                uploaded_by="test",
            )
        )
    listed = await driver.ok(OWNER, "worker", "GET", "/v1/sops")
    assert "avrr-joint@2.1.1" in [s["ref"] for s in listed["items"]]
    programme = await driver.http.post(
        f"{driver.agencies[OWNER].url}/v1/programmes",
        headers=sop["admins"][OWNER],
        json={
            "title": "Edited by hand",
            "sop": "avrr-joint@2.1.1",
            "bindings": BINDINGS,
            "agreements": [sop["agreement_id"]],
        },
    )
    assert programme.status_code == 201, programme.text
    return str(programme.json()["id"])


async def test_a_departure_without_the_bid_is_refused_even_on_a_hand_edited_sop(sop, app) -> None:
    driver = sop["driver"]
    programme_id = await _hand_edited_programme(sop, app)
    child = _amina(date_of_birth="2011-06-01", is_child=True, unaccompanied=True, needs_escort=True)
    journey_id, _ = await driver.admit(child, programme_id, sop["valid_until"])
    referrals: list[str] = []
    for step in (
        Step("profiling", "profiled"),
        Step("counselling", "decided_to_return"),
    ):
        journey = await _step(driver, child, journey_id, step, referrals)
    assert journey["stage"] == "travel_documents", "the edited SOP skipped the BID"
    referral_id = await driver.send_referral(child, journey, referrals)
    await driver.ok(
        journey["acting_agency"],
        "worker",
        "POST",
        f"/v1/referrals/{referral_id}/complete",
        json={"outcome": "issued"},
    )

    async def answered() -> bool:
        return bool((await driver.journey(journey_id)).get("blocked"))

    await driver.until("the travel documents' answer", answered)
    journey = await driver.journey(journey_id)
    assert journey["stage"] == "travel_documents", "never entered escorted_departure"
    [blocked] = journey["blocked"]
    assert blocked["code"] == "safeguard-missing"
    assert blocked["missing"] == ["bid"]
    assert "best-interests determination" in blocked["message"]


async def test_a_departure_is_not_approved_once_a_late_fact_requires_a_safeguard(sop, app) -> None:
    """On an SOP without interrupts nothing diverts the journey: approving the departure's
    referral runs the runtime guard again, on the facts as they are now."""
    driver = sop["driver"]
    programme_id = await _hand_edited_programme(sop, app)
    person = _amina()
    journey_id, _ = await driver.admit(person, programme_id, sop["valid_until"])
    referrals: list[str] = []
    for step in (
        Step("profiling", "profiled"),
        Step("counselling", "decided_to_return"),
        Step("travel_documents", "issued"),
    ):
        journey = await _step(driver, person, journey_id, step, referrals)
    assert journey["stage"] == "departure"
    journey = await _patch_profile(driver, journey_id, trafficking_victim=True)
    assert journey["stage"] == "departure", "no interrupt in this SOP"

    refused = await driver.call(
        OWNER, "focal_point", "POST", f"/v1/referrals/{journey['referral_id']}/approve"
    )
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"] == "/problems/safeguard-missing"
    assert sorted(problem["missing"]) == [
        "protection_needs_analysis",
        "trafficking_risk_assessment",
    ]
    assert len(problem["violations"]) == 2, "every missing safeguard"
    still = await driver.ok(OWNER, "worker", "GET", f"/v1/referrals/{journey['referral_id']}")
    assert still["status"] == "pending_approval", "nothing of the approval was kept"


ENFORCEMENT_PURPOSES = [
    "return-enforcement",
    "readmission",
    "forced-return-monitoring",
    "forced-return",
    "post-removal-monitoring",
    "protection-referral",
]


async def _enforcement_programme(sop) -> str:
    """gov-de's own programme: enforcement@1.0.0 under a legal-obligation agreement with the
    state of nationality and an independent monitor (UNHCR here, never gov-de itself)."""
    driver, admins = sop["driver"], sop["admins"]
    url = driver.agencies["gov-de"].url
    now = datetime.now(UTC).replace(microsecond=0)
    recipients = {"gov-rs": ["identity", "documents"], "unhcr": ["identity", "return_plan"]}
    categories = {
        category: {
            "senders": ["gov-de"],
            "recipients": sorted(a for a, sent in recipients.items() if category in sent),
            "data_roles": ["counsellor"],
        }
        for category in ("identity", "documents", "return_plan")
    }
    terms = {
        "title": "Return enforcement",
        "parties": ["gov-de", "gov-rs", "unhcr"],
        "purposes": ENFORCEMENT_PURPOSES,
        "categories": categories,
        "legal_basis": "legal_obligation",
        "retention_days": 365,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=365)).isoformat(),
    }
    drafted = await driver.http.post(f"{url}/v1/agreements", json=terms, headers=admins["gov-de"])
    assert drafted.status_code == 201, drafted.text
    agreement = drafted.json()["id"]
    proposed = await driver.http.post(
        f"{url}/v1/agreements/{agreement}/propose", headers=admins["gov-de"]
    )
    digest = proposed.json()["digest"]
    for party in terms["parties"]:

        async def arrived(party: str = party) -> bool:
            seen = await driver.http.get(f"{url}/v1/agreements/{agreement}", headers=admins[party])
            return seen.status_code == 200 and seen.json().get("digest") == digest

        await driver.until(f"the agreement at {party}", arrived)
        signed = await driver.http.post(
            f"{url}/v1/agreements/{agreement}/sign", json={"digest": digest}, headers=admins[party]
        )
        assert signed.status_code == 200, signed.text

    async def active() -> bool:
        seen = await driver.http.get(f"{url}/v1/agreements/{agreement}", headers=admins["gov-de"])
        return seen.json()["status"] == "active"

    await driver.until("the agreement in force", active)
    programme = await driver.http.post(
        f"{url}/v1/programmes",
        headers=admins["gov-de"],
        json={
            "title": "Enforcement of return orders",
            "sop": "enforcement@1.0.0",
            "bindings": {
                "host_authority": "gov-de",
                "origin_authority": {"SRB": "gov-rs"},
                "monitor": "unhcr",
            },
            "agreements": [agreement],
        },
    )
    assert programme.status_code == 201, programme.text
    return str(programme.json()["id"])


async def test_a_removal_that_took_place_stays_on_the_host_authoritys_record_after_withdrawal(
    sop,
) -> None:
    driver = sop["driver"]
    programme_id = await _enforcement_programme(sop)
    amina = _amina()
    case = await driver.ok(
        "gov-de",
        "worker",
        "POST",
        "/v1/cases",
        json={"external_ref": "DE-RO-2026-77", "profile": amina.profile, "data": amina.data},
    )
    consent = await driver.ok(
        "gov-de",
        "worker",
        "POST",
        f"/v1/cases/{case['id']}/consents",
        json={
            "purposes": ["avrr-counselling"],
            "recipients": ["iom"],
            "categories": ["identity"],
            "given_by": "self",
            "method": "written",
            "evidence_ref": "counselling consent form",
            "valid_until": sop["valid_until"],
        },
    )
    journey = await driver.ok(
        "gov-de",
        "worker",
        "POST",
        f"/v1/cases/{case['id']}/journeys",
        json={"programme_id": programme_id},
    )
    path = f"/v1/journeys/{journey['id']}"

    async def at(stage: str) -> bool:
        seen = await driver.ok("gov-de", "worker", "GET", path)
        assert not seen.get("blocked"), seen["blocked"]
        return bool(seen["stage"] == stage)

    async def by_partner(stage: str, outcome: str, then: str) -> None:
        seen = await driver.ok("gov-de", "worker", "GET", path)
        assert seen["stage"] == stage
        referral = seen["referral_id"]
        await driver.ok("gov-de", "focal_point", "POST", f"/v1/referrals/{referral}/approve")
        acting = seen["acting_agency"]

        async def arrived() -> bool:
            got = await driver.call(acting, "focal_point", "GET", f"/v1/referrals/{referral}")
            return got.status_code == 200

        await driver.until(f"{stage} at {acting}", arrived)
        await driver.ok(acting, "focal_point", "POST", f"/v1/referrals/{referral}/accept")
        await driver.ok(
            acting,
            "worker",
            "POST",
            f"/v1/referrals/{referral}/complete",
            json={"outcome": outcome},
        )
        await driver.until(f"the journey at {then}", lambda: at(then))

    async def by_host(stage: str, outcome: str) -> None:
        await driver.ok(
            "gov-de",
            "worker",
            "POST",
            f"{path}/outcomes",
            json={"stage": stage, "outcome": outcome},
        )

    await by_host("enforcement_review", "enforce")
    await by_partner("readmission_request", "accepted", "independent_monitoring")
    await by_partner("independent_monitoring", "monitor_assigned", "forced_removal")
    await by_host("forced_removal", "removed")
    assert await at("post_removal_monitoring")

    await driver.ok("gov-de", "worker", "POST", f"/v1/consents/{consent['id']}/withdraw", json={})

    record = await driver.ok("gov-de", "worker", "GET", path)
    assert record["stage"] == "post_removal_monitoring", "not withdrawn: a legal obligation"
    assert [(h["stage"], h["outcome"]) for h in record["history"]][:4] == [
        ("enforcement_review", "enforce"),
        ("readmission_request", "accepted"),
        ("independent_monitoring", "monitor_assigned"),
        ("forced_removal", "removed"),
    ]
    monitor = next(h for h in record["history"] if h["stage"] == "independent_monitoring")
    assert monitor["by"] == "unhcr", "the monitor is not the host authority"
