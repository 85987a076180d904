"""A programme runs only where every other agency's stage is covered by an agreement in force;
definitions with faults are refused with their lines; overdue stages raise events."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from kit.db.base import utcnow
from services.audit.models import AuditEvent
from services.demo.scenarios import BINDINGS, PEOPLE
from services.journeys.service import report_overdue
from tests.support.markers import sqlite_only

BROKEN = Path(__file__).parents[2] / "sop" / "broken"


@sqlite_only
async def test_a_programme_without_an_agreement_for_a_stage_is_refused_per_stage(sop, client):
    response = await client.post(
        "/v1/programmes",
        headers=sop["admins"]["unhcr"],
        json={
            "title": "No agreements",
            "sop": "avrr-joint@2.1.0",
            "bindings": BINDINGS,
            "agreements": [],
        },
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/programme-refused"
    stages = {v["stage"] for v in body["violations"] if v["code"] == "no_agreement"}
    assert {"profiling", "counselling", "travel_documents", "employment_and_skills"} <= stages
    assert "bid" not in stages, "UNHCR acts at the BID itself: no agreement needed"


@sqlite_only
async def test_unbound_roles_and_unknown_agencies_are_named(sop, client) -> None:
    bindings = {**BINDINGS, "labour": "ngo-nowhere"}
    del bindings["origin_authority"]
    response = await client.post(
        "/v1/programmes",
        headers=sop["admins"]["unhcr"],
        json={
            "title": "Gaps",
            "sop": "avrr-joint@2.1.0",
            "bindings": bindings,
            "agreements": [sop["agreement_id"]],
        },
    )
    codes = {(v["code"], v["role"]) for v in response.json()["violations"]}
    assert ("agency_unknown", "labour") in codes
    assert ("role_unbound", "origin_authority") in codes


async def test_a_suspended_agreement_shows_in_the_programme_check(sop, client) -> None:
    admins = sop["admins"]
    check = await client.get(f"/v1/programmes/{sop['programme_id']}/check", headers=admins["unhcr"])
    assert check.json()["runnable"] is True
    await client.post(
        f"/v1/agreements/{sop['agreement_id']}/suspend",
        json={"reason": "review"},
        headers=admins["iom"],
    )
    check = (
        await client.get(f"/v1/programmes/{sop['programme_id']}/check", headers=admins["unhcr"])
    ).json()
    assert check["runnable"] is False
    assert any(
        "suspended" in v["message"] and v["stage"] == "counselling" for v in check["violations"]
    )


@sqlite_only
async def test_a_broken_definition_is_refused_with_every_problem_and_line(sop, client) -> None:
    source = (BROKEN / "departure_skips_bid.yaml").read_text()
    response = await client.post(
        "/v1/sops", json={"source": source}, headers=sop["admins"]["unhcr"]
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any("best-interests" in e["message"] and e["line"] > 1 for e in errors)
    listed = (await client.get("/v1/sops", headers=sop["admins"]["unhcr"])).json()
    assert [s["ref"] for s in listed["items"]] == ["avrr-joint@2.1.0", "enforcement@1.0.0"]


@sqlite_only
async def test_the_stage_graph_is_served(sop, client) -> None:
    graph = await client.get("/v1/sops/avrr-joint@2.1.0/graph", headers=sop["admins"]["unhcr"])
    assert graph.text.startswith("flowchart")
    assert "post_return_monitoring" in graph.text


@sqlite_only
async def test_an_overdue_stage_is_listed_and_raises_an_event_once(sop, app) -> None:
    driver = sop["driver"]
    journey_id, _ = await driver.admit(PEOPLE[0], sop["programme_id"], sop["valid_until"])
    later = utcnow() + timedelta(days=15)  # profiling is due within 14 days
    assert await report_overdue(app.state.db, later) == 1
    assert await report_overdue(app.state.db, later) == 0, "reported once per stage visit"
    async with app.state.db.sessions() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "journey.overdue"))
        ).all()
    assert [e.subject_id for e in events] == [journey_id]


@sqlite_only
async def test_the_nodes_sweep_reports_overdue_stages(sop, app) -> None:
    """The node's own timer does it: the sweep the app starts reports the overdue stage."""
    driver = sop["driver"]
    journey_id, _ = await driver.admit(PEOPLE[0], sop["programme_id"], sop["valid_until"])
    later = utcnow() + timedelta(days=15)
    await app.state.sweeper.step(later)
    async with app.state.db.sessions() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "journey.overdue"))
        ).all()
    assert [e.subject_id for e in events] == [journey_id]
