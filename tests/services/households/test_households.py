"""``/v1/households``: cases of one agency linked as a household, each member with their
relationship; every fault of a household named in one problem, nothing personal in it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.audit.models import AuditEvent
from tests.support.cases import (
    CallerFactory,
    adult_case_body,
    caller_factory,
    child_case_body,
    seed_agencies,
    seed_case,
)

PROBLEM = "application/problem+json"


@pytest.fixture
async def caller(client: httpx.AsyncClient, app: FastAPI) -> CallerFactory:
    await seed_agencies(app)
    return caller_factory(app, client)


def _body(*members: tuple[str, str]) -> dict[str, Any]:
    return {"members": [{"case_id": c, "relationship": r} for c, r in members]}


def _errors(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/household-invalid"
    return [(e["code"], e["location"]) for e in problem["errors"]]


async def test_a_caseworker_links_a_mother_and_her_daughter(
    app: FastAPI, client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    mother = await seed_case(app, "unhcr")
    daughter = await seed_case(app, "unhcr", child_case_body())

    created = await client.post(
        "/v1/households", json=_body((mother, "parent"), (daughter, "child")), headers=headers
    )

    assert created.status_code == 201, created.text
    household = created.json()
    assert created.headers["location"] == f"/v1/households/{household['id']}"
    assert household["agency"] == "unhcr"
    assert household["members"] == [
        {"case_id": mother, "relationship": "parent"},
        {"case_id": daughter, "relationship": "child"},
    ]
    read = await client.get(f"/v1/households/{household['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json() == household
    async with app.state.db.sessions() as session:
        [event] = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "household.created")
            )
        ).all()
    assert event.subject_id == household["id"]
    assert event.detail == {"members": 2, "relationships": ["child", "parent"]}


async def test_every_fault_of_a_household_comes_back_at_once(
    app: FastAPI, client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    mother = await seed_case(app, "unhcr")
    elsewhere = await seed_case(app, "iom", adult_case_body(external_ref="IOM-1"))
    nobody = str(uuid.uuid4())

    refused = await client.post(
        "/v1/households",
        json=_body(
            (mother, "parent"),
            (elsewhere, "child"),
            (nobody, "sibling"),
            (mother, "spouse"),
            (str(uuid.uuid4()), "cousin"),
        ),
        headers=headers,
    )

    assert sorted(_errors(refused)) == [
        ("duplicate_member", "body.members.3.case_id"),
        ("enum", "body.members.4.relationship"),
        ("unknown_case", "body.members.1.case_id"),
        ("unknown_case", "body.members.2.case_id"),
    ], "another agency's case is as unknown as a case that does not exist"


async def test_one_member_is_not_a_household(
    app: FastAPI, client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    mother = await seed_case(app, "unhcr")
    refused = await client.post("/v1/households", json=_body((mother, "spouse")), headers=headers)
    assert _errors(refused) == [("one_member", "body.members")]


async def test_a_child_with_no_parent_in_the_household_makes_no_sense(
    app: FastAPI, client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    brother = await seed_case(app, "unhcr")
    sister = await seed_case(app, "unhcr", child_case_body())
    refused = await client.post(
        "/v1/households", json=_body((brother, "sibling"), (sister, "child")), headers=headers
    )
    assert _errors(refused) == [("unmatched_relationship", "body.members.1.relationship")]
    assert "parent" in refused.json()["errors"][0]["message"]


async def test_members_join_and_leave_and_the_household_stays_sound(
    app: FastAPI, client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    mother = await seed_case(app, "unhcr")
    daughter = await seed_case(app, "unhcr", child_case_body())
    father = await seed_case(app, "unhcr", adult_case_body(external_ref="FATHER-1"))
    created = await client.post(
        "/v1/households", json=_body((mother, "parent"), (daughter, "child")), headers=headers
    )
    path = f"/v1/households/{created.json()['id']}"

    joined = await client.post(
        f"{path}/members", json={"case_id": father, "relationship": "parent"}, headers=headers
    )
    assert joined.status_code == 200, joined.text
    assert [m["case_id"] for m in joined.json()["members"]] == [mother, daughter, father]

    again = await client.post(
        f"{path}/members", json={"case_id": father, "relationship": "spouse"}, headers=headers
    )
    # Faults of a change name their place in the household as it would be, not in the body.
    assert _errors(again) == [("duplicate_member", "members.3.case_id")]

    left = await client.delete(f"{path}/members/{father}", headers=headers)
    assert left.status_code == 200, left.text
    assert [m["case_id"] for m in left.json()["members"]] == [mother, daughter]

    orphaning = await client.delete(f"{path}/members/{mother}", headers=headers)
    codes = [code for code, _ in _errors(orphaning)]
    assert codes == ["one_member", "unmatched_relationship"]

    absent = await client.delete(f"{path}/members/{father}", headers=headers)
    assert absent.status_code == 404


async def test_another_agency_cannot_see_the_household(
    app: FastAPI, client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    mother = await seed_case(app, "unhcr")
    daughter = await seed_case(app, "unhcr", child_case_body())
    created = await client.post(
        "/v1/households",
        json=_body((mother, "parent"), (daughter, "child")),
        headers=await caller(),
    )
    foreign = await client.get(
        f"/v1/households/{created.json()['id']}", headers=await caller(agency="iom")
    )
    assert foreign.status_code == 404
