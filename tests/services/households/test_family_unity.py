"""Family unity across the demo federation: cases linked as one household, and a departure that
would separate a child from the parent or guardian who cares for them refused at approval
(CRC art. 9), unless a best-interests determination with a written decision decided it
(CRC art. 3)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select

from services.audit.models import AuditEvent
from services.demo.scenarios import OWNER, PEOPLE, Person, Step
from tests.support.markers import sqlite_only

pytestmark = sqlite_only

TO_DEPARTURE = [
    Step("profiling", "profiled"),
    Step("counselling", "decided_to_return"),
    Step("travel_documents", "issued"),
]


def _person(name: str, **profile: Any) -> Person:
    amina = next(p for p in PEOPLE if p.name.startswith("Amina"))
    return replace(amina, name=name, profile={**amina.profile, **profile}, script=[])


MOTHER = _person("Amina H.")
DAUGHTER = _person("Lea H. (10, with her mother)", date_of_birth="2016-05-02", is_child=True)
AUNT = _person("Vesna P. (her aunt and guardian)")
NIECE = _person(
    "Ana P. (14, separated, with her aunt)",
    date_of_birth="2012-02-11",
    is_child=True,
    separated=True,
)


async def _walk(driver, person: Person, journey_id: str, steps: list[Step]) -> dict:
    referrals: list[str] = []
    for step in steps:
        journey = await driver.journey(journey_id)
        assert journey["stage"] == step.stage, journey
        await driver.act(person, journey, step, referrals)
    return await driver.journey(journey_id)


async def _admit(sop, person: Person) -> tuple[str, str]:
    """The person's journey and case at UNHCR."""
    journey_id, _ = await sop["driver"].admit(person, sop["programme_id"], sop["valid_until"])
    journey = await sop["driver"].journey(journey_id)
    return journey_id, str(journey["case_id"])


async def _household(driver, members: list[tuple[str, str]]) -> dict:
    return await driver.ok(
        OWNER,
        "worker",
        "POST",
        "/v1/households",
        json={"members": [{"case_id": c, "relationship": r} for c, r in members]},
    )


async def _approve(driver, journey: dict):
    return await driver.call(
        OWNER, "focal_point", "POST", f"/v1/referrals/{journey['referral_id']}/approve"
    )


async def test_a_childs_departure_is_refused_while_her_mother_stays(sop, app) -> None:
    driver = sop["driver"]
    mother_journey, mother = await _admit(sop, MOTHER)
    daughter_journey, daughter = await _admit(sop, DAUGHTER)
    household = await _household(driver, [(mother, "parent"), (daughter, "child")])
    assert [m["relationship"] for m in household["members"]] == ["parent", "child"]

    stays = await _walk(driver, MOTHER, mother_journey, [Step("profiling", "profiled")])
    assert stays["stage"] == "counselling"
    journey = await _walk(driver, DAUGHTER, daughter_journey, TO_DEPARTURE)
    assert journey["stage"] == "escorted_departure"

    refused = await _approve(driver, journey)

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/family-separation"
    [violation] = problem["violations"]
    assert violation["code"] == "family_separation"
    assert violation["case_id"] == daughter
    assert violation["member"] == mother
    assert violation["relationship"] == "parent"
    assert f"child case {daughter}" in violation["message"]
    assert f"parent case {mother}" in violation["message"]
    assert "Amina" not in refused.text, "never a name"
    assert "Lea" not in refused.text
    still = await driver.ok(OWNER, "worker", "GET", f"/v1/referrals/{journey['referral_id']}")
    assert still["status"] == "pending_approval", "nothing of the approval was kept"
    async with app.state.db.sessions() as session:
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.subject_id == household["id"])
            )
        ).all()
    assert list(actions) == ["household.created"]


async def test_a_mother_may_not_depart_while_her_daughter_stays(sop) -> None:
    """The reverse: the parent's departure is the one refused."""
    driver = sop["driver"]
    mother_journey, mother = await _admit(sop, MOTHER)
    daughter_journey, daughter = await _admit(sop, DAUGHTER)
    await _household(driver, [(mother, "parent"), (daughter, "child")])
    await _walk(driver, DAUGHTER, daughter_journey, [Step("profiling", "profiled")])
    journey = await _walk(driver, MOTHER, mother_journey, TO_DEPARTURE)
    assert journey["stage"] == "departure"

    refused = await _approve(driver, journey)

    assert refused.status_code == 409, refused.text
    [violation] = refused.json()["violations"]
    assert violation["code"] == "family_separation"
    assert violation["message"].startswith(f"parent case {mother} would depart")
    assert violation["case_id"] == daughter


async def test_a_mother_and_daughter_departing_together_are_approved(sop) -> None:
    driver = sop["driver"]
    mother_journey, mother = await _admit(sop, MOTHER)
    daughter_journey, daughter = await _admit(sop, DAUGHTER)
    await _household(driver, [(mother, "parent"), (daughter, "child")])
    mothers = await _walk(driver, MOTHER, mother_journey, TO_DEPARTURE)
    daughters = await _walk(driver, DAUGHTER, daughter_journey, TO_DEPARTURE)
    assert (mothers["stage"], daughters["stage"]) == ("departure", "escorted_departure")

    first = await _approve(driver, daughters)
    assert first.status_code == 200, first.text
    second = await _approve(driver, mothers)
    assert second.status_code == 200, second.text
    assert (first.json()["status"], second.json()["status"]) == ("approved", "approved")


async def test_a_separation_decided_by_a_best_interests_determination_is_approved(sop) -> None:
    driver = sop["driver"]
    aunt_journey, aunt = await _admit(sop, AUNT)
    niece_journey, niece = await _admit(sop, NIECE)
    await _household(driver, [(aunt, "guardian"), (niece, "ward")])
    await _walk(driver, AUNT, aunt_journey, [Step("profiling", "profiled")])
    journey = await _walk(
        driver,
        NIECE,
        niece_journey,
        [
            Step("profiling", "profiled"),
            # Family tracing found her parents; return to them is in her best interests.
            Step("bid", "return_in_best_interests", decision_ref="BID-2026-077"),
            *TO_DEPARTURE[1:],
        ],
    )
    assert journey["stage"] == "escorted_departure"

    approved = await _approve(driver, journey)

    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
