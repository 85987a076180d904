"""Cases at the owning agency: recorded, read by data role, changed, sealed, audited."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.audit.models import AuditEvent
from tests.support.cases import (
    HEALTH,
    PROTECTION,
    CallerFactory,
    adult_case_body,
    holds_in_clear,
    raw_rows,
)
from tests.support.markers import sqlite_only

PROBLEM = "application/problem+json"


async def _create(http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    response = await http.post("/v1/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


async def _events(app: FastAPI, action: str | None = None) -> list[AuditEvent]:
    async with app.state.db.sessions() as session:
        statement = select(AuditEvent).order_by(AuditEvent.agency, AuditEvent.seq)
        if action is not None:
            statement = statement.where(AuditEvent.action == action)
        return list((await session.scalars(statement)).all())


def _with_sensitive(**changes: Any) -> dict[str, Any]:
    body = adult_case_body(**changes)
    body["data"] = {**body["data"], "protection": PROTECTION, "health": HEALTH}
    return body


async def test_caseworker_records_a_case_and_reads_it_back(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    body = adult_case_body()
    response = await client.post("/v1/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "agency", "external_ref", "created_at", "updated_at"}
    assert created["agency"] == "unhcr"
    assert response.headers["location"] == f"/v1/cases/{created['id']}"

    case = (await client.get(response.headers["location"], headers=headers)).json()
    assert case["external_ref"] == body["external_ref"]
    assert case["profile"] == body["profile"]
    assert case["profile_withheld"] == []
    assert case["data"]["identity"]["names"] == {"given_names": "Amina", "family_name": "Haddad"}
    assert case["data"]["skills"] == body["data"]["skills"]
    assert case["withheld"] == []


async def test_case_data_is_sealed_at_rest(
    client: httpx.AsyncClient, caller: CallerFactory, app: FastAPI
) -> None:
    headers = await caller(data_roles=("protection_officer", "medical"))
    case_id = await _create(client, headers, _with_sensitive())
    await client.patch(
        f"/v1/cases/{case_id}/profile", json={"host_language": "fluent"}, headers=headers
    )
    cases, data = await raw_rows(app, "cases"), await raw_rows(app, "case_data")
    assert len(cases) == 1
    assert {row["category"] for row in data} == {"identity", "skills", "protection", "health"}
    for needle in (
        "Amina",
        "Haddad",
        "1990-05-02",
        '"SRB"',
        "trafficking",
        "fluent",
        "diabetes",
        "Belgrade",
        "threat_from_state_officials",
        # Short values are looked for with their JSON quotes: two bare bytes turn up in
        # random ciphertext about once in a few hundred runs.
        '"B2"',
    ):
        assert not holds_in_clear(cases + data, needle), f"{needle} is stored in the clear"


async def test_protection_is_withheld_from_a_caseworker_without_the_protection_officer_role(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    officer = await caller(data_roles=("protection_officer", "medical"))
    case_id = await _create(client, officer, _with_sensitive())

    plain = await caller()
    case = (await client.get(f"/v1/cases/{case_id}", headers=plain)).json()
    assert set(case["data"]) == {"identity", "skills"}
    withheld = {w["category"]: w for w in case["withheld"]}
    assert set(withheld) == {"health", "protection"}
    assert withheld["protection"]["code"] == "data_role_missing"
    assert "protection_officer" in withheld["protection"]["reason"]
    assert "medical" in withheld["health"]["reason"]
    assert "Belgrade" not in json.dumps(case)

    protection_only = await caller(data_roles=("protection_officer",))
    case = (await client.get(f"/v1/cases/{case_id}", headers=protection_only)).json()
    assert case["data"]["protection"]["confidential_account"] == PROTECTION["confidential_account"]
    assert [w["category"] for w in case["withheld"]] == ["health"]


async def test_a_focal_point_reads_cases_like_a_caseworker(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    case_id = await _create(client, await caller(), adult_case_body())
    focal = await caller(roles=("focal_point",), scopes=("cases:read",))
    case = (await client.get(f"/v1/cases/{case_id}", headers=focal)).json()
    assert set(case["data"]) == {"identity", "skills"}
    assert case["profile"]["trafficking_victim"] is True


async def test_reading_a_case_is_audited_naming_what_was_disclosed(
    client: httpx.AsyncClient, caller: CallerFactory, app: FastAPI
) -> None:
    officer = await caller(data_roles=("protection_officer",))
    case_id = await _create(client, officer, adult_case_body(data={"protection": PROTECTION}))
    await client.put(f"/v1/cases/{case_id}/data/skills", json={}, headers=officer)
    plain = await caller()
    await client.get(f"/v1/cases/{case_id}", headers=plain)
    await client.get(f"/v1/cases/{case_id}", headers=officer)

    reads = await _events(app, "case.read")
    assert [(e.case_id, e.categories) for e in reads] == [
        (case_id, ["skills"]),
        (case_id, ["protection", "skills"]),
    ]
    assert reads[0].detail["withheld"] == ["protection"]
    assert "trafficking_victim" in reads[0].detail["profile_facts"]
    assert reads[0].actor != reads[1].actor


async def test_every_change_is_audited_and_no_event_holds_personal_data(
    client: httpx.AsyncClient, caller: CallerFactory, app: FastAPI
) -> None:
    headers = await caller()
    case_id = await _create(client, headers, adult_case_body())
    await client.put(
        f"/v1/cases/{case_id}/data/contact", json={"email": "amina@example.org"}, headers=headers
    )
    await client.patch(
        f"/v1/cases/{case_id}/profile", json={"host_language": "good"}, headers=headers
    )
    events = await _events(app)
    assert [(e.action, e.categories) for e in events] == [
        ("case.created", ["identity", "skills"]),
        ("case.data_replaced", ["contact"]),
        ("case.profile_updated", []),
    ]
    assert {e.case_id for e in events} == {case_id}
    assert events[2].detail == {"profile_facts": ["host_language"]}
    dumped = json.dumps([e.detail for e in events])
    for needle in ("Amina", "amina@example.org", "1990", "SRB", "good"):
        assert needle not in dumped


async def test_a_bad_field_is_named_with_its_location(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    body = adult_case_body()
    body["profile"]["age"] = -3
    body["data"]["identity"]["date_of_birth"] = "the second of May"
    body["data"]["skills"]["hobbies"] = ["chess"]
    del body["external_ref"]
    response = await client.post("/v1/cases", json=body, headers=await caller())
    problem = _problem(response, 422, "document-invalid")
    located = {e["location"]: e for e in problem["errors"]}
    assert set(located) == {
        "body.external_ref",
        "body.profile.age",
        "body.data.identity.date_of_birth",
        "body.data.skills.hobbies",
    }
    assert located["body.data.skills.hobbies"]["message"] == "is not a field of category skills"
    assert all(e["code"] == e["type"] and e["message"] for e in problem["errors"])
    assert "body.profile.age" in problem["detail"]


async def test_a_category_outside_the_vocabulary_is_refused_by_name(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    body = adult_case_body(data={"criminal_record": {"convictions": 2}})
    problem = _problem(
        await client.post("/v1/cases", json=body, headers=headers), 422, "document-invalid"
    )
    [error] = problem["errors"]
    assert error["location"] == "body.data.criminal_record"
    assert error["message"].startswith("criminal_record is not a data category")

    case_id = await _create(client, headers, adult_case_body())
    response = await client.put(
        f"/v1/cases/{case_id}/data/criminal_record", json={}, headers=headers
    )
    [error] = _problem(response, 422, "category-data-invalid")["errors"]
    assert error["location"] == "path.category"
    assert "criminal_record" in error["message"]


async def test_a_refused_case_writes_nothing(
    client: httpx.AsyncClient, caller: CallerFactory, app: FastAPI
) -> None:
    headers = await caller()
    body = adult_case_body(data={"identity": {"sex": "unknown"}, "skills": {"bogus": 1}})
    assert (await client.post("/v1/cases", json=body, headers=headers)).status_code == 422
    assert await raw_rows(app, "cases") == []
    assert await raw_rows(app, "case_data") == []
    assert await _events(app) == []


async def test_errors_do_not_echo_submitted_values(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    secret = "Amina Haddad 1990"
    body = adult_case_body()
    body["data"]["identity"]["nationality"] = secret
    body["data"]["identity"]["sex"] = secret
    body["profile"] = {"age": 15, "is_child": False}
    response = await client.post("/v1/cases", json=body, headers=await caller())
    problem = _problem(response, 422, "document-invalid")
    assert secret not in response.text
    messages = json.dumps([problem["detail"], *(e["message"] for e in problem["errors"])])
    assert "15" not in messages
    assert {e["location"] for e in problem["errors"]} == {
        "body.profile",
        "body.data.identity.nationality",
        "body.data.identity.sex",
    }


async def test_replacing_a_category_validates_it_against_its_schema(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    case_id = await _create(client, headers, adult_case_body())
    response = await client.put(
        f"/v1/cases/{case_id}/data/skills",
        json={"languages": [{"language": "German", "level": "B2"}], "certificates": []},
        headers=headers,
    )
    problem = _problem(response, 422, "category-data-invalid")
    assert {e["location"] for e in problem["errors"]} == {
        "body.languages.0.language",
        "body.certificates",
    }
    response = await client.put(f"/v1/cases/{case_id}/data/skills", json=[1], headers=headers)
    [error] = _problem(response, 422, "category-data-invalid")["errors"]
    assert error["location"] == "body"


async def test_replacing_a_category_replaces_it_whole(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    case_id = await _create(client, headers, adult_case_body())
    before = (await client.get(f"/v1/cases/{case_id}", headers=headers)).json()
    response = await client.put(
        f"/v1/cases/{case_id}/data/identity", json={"sex": "female"}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["updated_at"]) > datetime.fromisoformat(
        before["updated_at"]
    )
    case = (await client.get(f"/v1/cases/{case_id}", headers=headers)).json()
    assert case["data"]["identity"] == {"sex": "female"}
    assert case["data"]["skills"] == before["data"]["skills"]


async def test_a_caseworker_cannot_write_protection_without_the_protection_officer_role(
    client: httpx.AsyncClient, caller: CallerFactory, app: FastAPI
) -> None:
    headers = await caller()
    problem = _problem(
        await client.post(
            "/v1/cases", json=adult_case_body(data={"protection": PROTECTION}), headers=headers
        ),
        403,
        "forbidden",
    )
    assert [w["category"] for w in problem["withheld"]] == ["protection"]
    case_id = await _create(client, headers, adult_case_body())
    response = await client.put(f"/v1/cases/{case_id}/data/health", json=HEALTH, headers=headers)
    [withheld] = _problem(response, 403, "forbidden")["withheld"]
    assert withheld["code"] == "data_role_missing"
    assert "medical" in withheld["reason"]
    assert [e.action for e in await _events(app)] == ["case.created"]


async def test_profile_patch_merges_and_null_clears_a_fact(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    case_id = await _create(client, headers, adult_case_body())
    response = await client.patch(
        f"/v1/cases/{case_id}/profile",
        json={"host_language": "good", "years_in_host_country": None},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    profile = (await client.get(f"/v1/cases/{case_id}", headers=headers)).json()["profile"]
    assert profile["host_language"] == "good"
    assert "years_in_host_country" not in profile
    assert profile["nationality"] == "SRB"


async def test_profile_patch_that_contradicts_the_facts_held_is_refused(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    case_id = await _create(client, headers, adult_case_body(profile={"age": 15}))
    response = await client.patch(
        f"/v1/cases/{case_id}/profile", json={"is_child": False}, headers=headers
    )
    [error] = _problem(response, 422, "document-invalid")["errors"]
    assert error["location"] == "body"
    assert "is_child contradicts age" in error["message"]
    response = await client.patch(
        f"/v1/cases/{case_id}/profile", json={"is_minor": True, "age": "old"}, headers=headers
    )
    problem = _problem(response, 422, "document-invalid")
    assert {e["location"] for e in problem["errors"]} == {"body.is_minor", "body.age"}


async def test_an_external_ref_is_unique_within_an_agency_only(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    body = adult_case_body()
    await _create(client, await caller(), body)
    response = await client.post("/v1/cases", json=body, headers=await caller())
    problem = _problem(response, 409, "conflict")
    assert body["external_ref"] not in problem["detail"]
    await _create(client, await caller(agency="iom"), body)


async def test_case_list_pages_newest_first_without_personal_data(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    ids = [await _create(client, headers, adult_case_body()) for _ in range(3)]
    await _create(client, await caller(agency="iom"), adult_case_body())
    first = (await client.get("/v1/cases", params={"limit": 2}, headers=headers)).json()
    assert [c["id"] for c in first["items"]] == ids[:0:-1]
    assert all(
        set(c) == {"id", "agency", "external_ref", "created_at", "updated_at"}
        for c in first["items"]
    )
    second = (
        await client.get(
            "/v1/cases", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    assert [c["id"] for c in second["items"]] == ids[:1]
    assert second["next_cursor"] is None


async def test_case_list_finds_a_case_by_external_ref(
    client: httpx.AsyncClient, caller: CallerFactory
) -> None:
    headers = await caller()
    body = adult_case_body()
    case_id = await _create(client, headers, body)
    await _create(client, headers, adult_case_body())
    found = (
        await client.get(
            "/v1/cases", params={"external_ref": body["external_ref"]}, headers=headers
        )
    ).json()
    assert [c["id"] for c in found["items"]] == [case_id]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PUT", "/data/skills", {}),
        ("PATCH", "/profile", {"host_language": "good"}),
    ],
)
async def test_another_agencys_case_is_not_found_and_left_unchanged(
    client: httpx.AsyncClient,
    caller: CallerFactory,
    app: FastAPI,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    case_id = await _create(client, await caller(), adult_case_body())
    response = await client.request(
        method, f"/v1/cases/{case_id}{suffix}", json=body, headers=await caller(agency="iom")
    )
    _problem(response, 404, "not-found")
    assert [e.agency for e in await _events(app)] == ["unhcr"]


@sqlite_only
async def test_nothing_personal_reaches_the_log_whatever_the_outcome(
    client: httpx.AsyncClient,
    caller: CallerFactory,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = await caller()
    capsys.readouterr()
    case_id = await _create(client, headers, adult_case_body())
    await client.get(f"/v1/cases/{case_id}", headers=headers)
    bad = adult_case_body()
    bad["data"]["identity"]["sex"] = "Haddad-unknown"
    await client.post("/v1/cases", json=bad, headers=headers)
    await client.put(f"/v1/cases/{case_id}/data/health", json=HEALTH, headers=headers)
    logged = capsys.readouterr().out + caplog.text
    assert '"event": "request"' in logged, "the requests were logged"
    for needle in ("Amina", "Haddad", "1990-05-02", "diabetes", "trafficking"):
        assert needle not in logged
