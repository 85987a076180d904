"""``GET /v1/audit``: an agency's auditors read its own events, newest first, filtered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from auth.principal import Principal
from services.audit import service as audit
from tests.support.identity import bearer, client_token, seed_client

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CASE_A, CASE_B = uuid.uuid4(), uuid.uuid4()
REFERRAL = uuid.uuid4()
CASEWORKER = Principal(
    agency="unhcr",
    kind="user",
    subject=str(uuid.uuid4()),
    client_id="console",
    roles=frozenset({"caseworker"}),
    data_roles=frozenset(),
    scopes=frozenset(),
    token_id="t",
)


async def _trail(app: FastAPI) -> None:
    async with app.state.db.sessions.begin() as session:
        for minute, (action, case, who, glass) in enumerate(
            [
                ("case.created", CASE_A, CASEWORKER, False),
                ("case.read", CASE_A, CASEWORKER, False),
                ("case.created", CASE_B, None, False),
                ("referral.read", CASE_A, CASEWORKER, True),
                ("case.read", CASE_B, None, False),
            ]
        ):
            await audit.record(
                session,
                agency="unhcr",
                principal=who,
                action=action,
                subject_type="case",
                subject_id=case,
                case_id=case,
                referral_id=REFERRAL if action.startswith("referral") else None,
                categories=["identity"] if action.endswith("read") else [],
                break_glass=glass,
                at=T0 + timedelta(minutes=minute),
            )
        await audit.record(
            session,
            agency="iom",
            principal=None,
            action="case.read",
            subject_type="case",
            subject_id=CASE_A,
            case_id=CASE_A,
        )


async def _seqs(client: httpx.AsyncClient, headers: dict[str, str], **params: object) -> list:
    response = await client.get("/v1/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["seq"] for item in response.json()["items"]]


async def test_auditor_reads_own_agency_events_newest_first(client, app, auditor) -> None:
    await _trail(app)
    response = await client.get("/v1/audit", headers=auditor)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["seq"] for item in items] == [5, 4, 3, 2, 1]
    assert {item["agency"] for item in items} == {"unhcr"}
    newest_read = items[0]
    assert newest_read["action"] == "case.read"
    assert newest_read["actor"] == "node"
    assert newest_read["categories"] == ["identity"]
    assert newest_read["prev_hash"] == items[1]["hash"]


async def test_break_glass_access_stands_out(client, app, auditor) -> None:
    await _trail(app)
    items = (await client.get("/v1/audit", headers=auditor)).json()["items"]
    assert [item["seq"] for item in items if item["break_glass"]] == [4]
    assert await _seqs(client, auditor, break_glass="true") == [4]


async def test_events_filter_by_case_referral_actor_action_and_time(client, app, auditor) -> None:
    await _trail(app)
    assert await _seqs(client, auditor, case_id=str(CASE_B)) == [5, 3]
    assert await _seqs(client, auditor, referral_id=str(REFERRAL)) == [4]
    assert await _seqs(client, auditor, actor=f"user:{CASEWORKER.subject}") == [4, 2, 1]
    assert await _seqs(client, auditor, actor="node") == [5, 3]
    assert await _seqs(client, auditor, action="case.read") == [5, 2]
    since, until = T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)
    assert await _seqs(client, auditor, **{"from": since.isoformat(), "to": until.isoformat()}) == [
        3,
        2,
    ]
    assert await _seqs(
        client, auditor, case_id=str(CASE_A), action="case.read", **{"to": until.isoformat()}
    ) == [2]


async def test_events_page_with_a_cursor(client, app, auditor) -> None:
    await _trail(app)
    first = (await client.get("/v1/audit", params={"limit": 2}, headers=auditor)).json()
    assert [item["seq"] for item in first["items"]] == [5, 4]
    second = (
        await client.get(
            "/v1/audit", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auditor
        )
    ).json()
    assert [item["seq"] for item in second["items"]] == [3, 2]
    last = (
        await client.get(
            "/v1/audit", params={"limit": 2, "cursor": second["next_cursor"]}, headers=auditor
        )
    ).json()
    assert [item["seq"] for item in last["items"]] == [1]
    assert last["next_cursor"] is None


async def test_a_time_window_that_ends_before_it_starts_is_a_validation_problem(
    client, app, auditor
) -> None:
    response = await client.get(
        "/v1/audit",
        params={"from": T0.isoformat(), "to": (T0 - timedelta(hours=1)).isoformat()},
        headers=auditor,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["location"] == "query.to"


async def test_a_time_without_zone_is_a_validation_problem(client, app, auditor) -> None:
    response = await client.get(
        "/v1/audit", params={"from": "2026-05-01T12:00:00"}, headers=auditor
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "query.from"


async def test_a_caseworker_cannot_read_the_audit_log(client, app, agencies) -> None:
    system = await seed_client(app, "unhcr", scopes=["audit:read"], roles=["caseworker"])
    response = await client.get("/v1/audit", headers=bearer(await client_token(client, system)))
    assert response.status_code == 403
    assert response.json()["required_roles"] == ["auditor"]
