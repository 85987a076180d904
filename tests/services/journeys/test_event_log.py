"""Every state change of a journey is in the event log (DESIGN §10): started, advanced,
diverted to a safeguard, ended; at the agency that holds the case, with ids, stages and
outcomes only, never the facts that moved it."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from services.demo.scenarios import OWNER, PEOPLE, Person, Step
from services.events import repository as event_rows
from tests.support.markers import sqlite_only

pytestmark = sqlite_only


def _amina(**profile: Any) -> Person:
    amina = next(p for p in PEOPLE if p.name.startswith("Amina"))
    return replace(amina, profile={**amina.profile, **profile}, script=[])


async def _journey_events(app, journey_id: str) -> list[tuple[str, dict[str, Any]]]:
    async with app.state.db.sessions() as session:
        logged = await event_rows.of_agency(session, agency=OWNER)
    return [
        (e.type, e.data)
        for e in logged
        if e.type.startswith("journey.") and e.data.get("journey_id") == journey_id
    ]


async def test_every_state_change_of_a_journey_is_logged(sop, app) -> None:
    driver = sop["driver"]
    child = _amina(date_of_birth="2011-06-01", is_child=True)
    journey_id, consent_id = await driver.admit(child, sop["programme_id"], sop["valid_until"])
    await driver.act(child, await driver.journey(journey_id), Step("profiling", "profiled"), [])
    journey = await driver.journey(journey_id)
    assert journey["stage"] == "counselling"
    case_id = str(journey["case_id"])

    # A fact that turns up late diverts the journey to the best-interests determination.
    await driver.ok(
        OWNER, "worker", "PATCH", f"/v1/cases/{case_id}/profile", json={"unaccompanied": True}
    )
    assert (await driver.journey(journey_id))["stage"] == "bid"
    # The person changes their mind: the journey ends.
    await driver.ok(OWNER, "worker", "POST", f"/v1/consents/{consent_id}/withdraw", json={})
    ended = await driver.journey(journey_id)
    assert ended["ended"]

    logged = await _journey_events(app, journey_id)
    assert [(t, d.get("from_stage"), d["stage"]) for t, d in logged] == [
        ("journey.started", None, "profiling"),
        ("journey.advanced", "profiling", "counselling"),
        ("journey.diverted", "counselling", "bid"),
        ("journey.advanced", "bid", ended["stage"]),
        ("journey.ended", None, ended["stage"]),
    ]
    started = logged[0][1]
    assert started["case_id"] == case_id
    assert started["programme_id"] == sop["programme_id"]
    assert logged[1][1]["outcome"] == "profiled"
    assert logged[3][1]["outcome"] == "withdraw"
    text = json.dumps([d for _, d in logged]).lower()
    assert "unaccompanied" not in text, "no fact, not even its name"
    assert "2011" not in text
