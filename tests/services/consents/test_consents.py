"""Consents: given under the rules for children, superseded, withdrawn, expiring; sealed words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from contracts.consent import ConsentRecord
from kit.errors import Conflict
from services.audit.models import AuditEvent
from services.consents import cascade
from services.consents import service as consent_service
from tests.support.cases import (
    CHILD_VIEWS,
    CallerFactory,
    adult_case_body,
    child_case_body,
    consent_body,
    holds_in_clear,
    raw_rows,
)

PROBLEM = "application/problem+json"


async def _case(http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> str:
    response = await http.post("/v1/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _give(
    http: httpx.AsyncClient, headers: dict[str, str], case_id: str, **changes: Any
) -> dict[str, Any]:
    response = await http.post(
        f"/v1/cases/{case_id}/consents", json=consent_body(**changes), headers=headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


def _faults(problem: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["location"], e["code"]) for e in problem["errors"]}


async def _actions(app: FastAPI) -> list[str]:
    async with app.state.db.sessions() as session:
        statement = select(AuditEvent.action).order_by(AuditEvent.agency, AuditEvent.seq)
        return list((await session.scalars(statement)).all())


@pytest.fixture
async def headers(caller: CallerFactory) -> dict[str, str]:
    return await caller()


async def test_an_adult_gives_consent_for_themselves(
    client: httpx.AsyncClient, headers: dict[str, str], app: FastAPI
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    response = await client.post(
        f"/v1/cases/{case_id}/consents", json=consent_body(), headers=headers
    )
    assert response.status_code == 201, response.text
    consent = response.json()
    assert response.headers["location"] == f"/v1/consents/{consent['id']}"
    assert consent["status"] == "given"
    assert consent["case_id"] == case_id
    assert consent["agency"] == "unhcr"
    assert consent["recipients"] == ["iom", "ilo"]
    assert consent["child_views_recorded"] is False
    assert "child_views" not in consent
    assert (await _actions(app))[-1] == "consent.given"


async def test_consent_for_a_child_given_by_self_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str], app: FastAPI
) -> None:
    case_id = await _case(client, headers, child_case_body())
    response = await client.post(
        f"/v1/cases/{case_id}/consents", json=consent_body(), headers=headers
    )
    problem = _problem(response, 422, "consent-invalid")
    assert _faults(problem) == {
        ("body.given_by", "child_given_by_self"),
        ("body.child_views", "child_views_missing"),
    }
    assert (
        "CRC art. 12"
        in {e["location"]: e for e in problem["errors"]}["body.child_views"]["message"]
    )
    assert await raw_rows(app, "consents") == []


async def test_an_unaccompanied_person_of_unknown_age_is_consented_for_as_a_child(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    case_id = await _case(
        client, headers, adult_case_body(profile={"unaccompanied": True}, data={})
    )
    response = await client.post(
        f"/v1/cases/{case_id}/consents", json=consent_body(), headers=headers
    )
    assert ("body.given_by", "child_given_by_self") in _faults(
        _problem(response, 422, "consent-invalid")
    )


async def test_a_guardian_consents_for_a_child_with_the_childs_views_recorded(
    client: httpx.AsyncClient, headers: dict[str, str], app: FastAPI
) -> None:
    case_id = await _case(client, headers, child_case_body())
    consent = await _give(client, headers, case_id, given_by="guardian", child_views=CHILD_VIEWS)
    assert consent["child_views_recorded"] is True
    assert "child_views" not in consent

    detail = (await client.get(f"/v1/consents/{consent['id']}", headers=headers)).json()
    assert detail["child_views"] == CHILD_VIEWS
    assert detail["given_by"] == "guardian"
    async with app.state.db.sessions() as session:
        [read] = (
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "consent.read"))
        ).all()
    assert read.subject_id == consent["id"]
    assert read.case_id == case_id
    assert read.detail == {"child_views_disclosed": True, "withdrawal_reason_disclosed": False}


async def test_the_childs_views_are_sealed_at_rest(
    client: httpx.AsyncClient, headers: dict[str, str], app: FastAPI
) -> None:
    case_id = await _case(client, headers, child_case_body())
    await _give(client, headers, case_id, given_by="legal_representative", child_views=CHILD_VIEWS)
    rows = await raw_rows(app, "consents")
    assert len(rows) == 1
    assert rows[0]["child_views_sealed"]
    for needle in ("afraid", "Jugendamt", "partly_agrees", "2026-02-27"):
        assert not holds_in_clear(rows, needle), f"{needle} is stored in the clear"
    # The terms name no one and are what referrals cite: stored as they are.
    assert holds_in_clear(rows, "avrr-counselling")


async def test_every_fault_of_a_consent_is_returned_at_once(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    body = consent_body(
        categories=["identity", "criminal_record"],
        valid_until="2020-01-01T00:00:00Z",
        method="verbal",
        evidence_ref=None,
        given_by="neighbour",
        note="called on Tuesday",
        supersedes="not-an-id",
    )
    response = await client.post(f"/v1/cases/{case_id}/consents", json=body, headers=headers)
    problem = _problem(response, 422, "consent-invalid")
    assert _faults(problem) == {
        ("body.categories.1", "category_unknown"),
        ("body.valid_until", "valid_until_passed"),
        ("body.evidence_ref", "evidence_missing"),
        ("body.given_by", "enum"),
        ("body.note", "extra_forbidden"),
        ("body.supersedes", "uuid_parsing"),
    }
    assert "called on Tuesday" not in response.text
    assert "not-an-id" not in response.text


async def test_a_consent_reads_as_expired_once_valid_until_has_passed(
    client: httpx.AsyncClient, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    valid_until = datetime.now(UTC) + timedelta(days=30)
    consent = await _give(client, headers, case_id, valid_until=valid_until.isoformat())
    later = valid_until + timedelta(seconds=1)
    monkeypatch.setattr(consent_service, "utcnow", lambda: later)

    assert (await client.get(f"/v1/consents/{consent['id']}", headers=headers)).json()[
        "status"
    ] == "expired"
    listed = (await client.get(f"/v1/cases/{case_id}/consents", headers=headers)).json()
    assert [c["status"] for c in listed["items"]] == ["expired"]
    # An expired consent can still be withdrawn: the withdrawal is what tells holders to erase.
    response = await client.post(f"/v1/consents/{consent['id']}/withdraw", headers=headers)
    assert response.json()["status"] == "withdrawn"


async def test_a_withdrawn_consent_reads_as_withdrawn_and_cannot_be_withdrawn_again(
    client: httpx.AsyncClient, headers: dict[str, str], app: FastAPI
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    consent = await _give(client, headers, case_id)
    response = await client.post(f"/v1/consents/{consent['id']}/withdraw", headers=headers)
    assert response.status_code == 200, response.text
    withdrawn = response.json()
    assert withdrawn["status"] == "withdrawn"
    assert withdrawn["withdrawn_at"] is not None

    again = await client.post(f"/v1/consents/{consent['id']}/withdraw", headers=headers)
    problem = _problem(again, 409, "invalid-transition")
    assert (problem["action"], problem["current_status"]) == ("withdraw", "withdrawn")
    assert "already withdrawn" in problem["detail"]
    assert (await _actions(app))[-1] == "consent.withdrawn"


async def test_a_withdrawal_reason_is_sealed_and_shown_only_on_a_single_read(
    client: httpx.AsyncClient, headers: dict[str, str], app: FastAPI
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    consent = await _give(client, headers, case_id)
    reason = "Moving in with her brother in Novi Sad"
    response = await client.post(
        f"/v1/consents/{consent['id']}/withdraw", json={"reason": reason}, headers=headers
    )
    assert reason not in response.text
    assert not holds_in_clear(await raw_rows(app, "consents"), "Novi Sad")
    detail = (await client.get(f"/v1/consents/{consent['id']}", headers=headers)).json()
    assert detail["withdrawal_reason"] == reason


async def test_withdrawal_hands_the_withdrawn_consent_to_the_cascade_in_the_same_transaction(
    client: httpx.AsyncClient, headers: dict[str, str], app: FastAPI
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    consent = await _give(client, headers, case_id)
    seen: list[ConsentRecord] = []

    async def refuse(session: Any, withdrawal: cascade.Withdrawal) -> None:
        seen.append(withdrawal.consent)
        raise Conflict("a recipient could not be reached")

    # A listener of the withdrawal that fails, as a recipient that cannot be told would.
    app.state.federation.events.subscribe(cascade.WITHDRAWN, refuse)
    response = await client.post(f"/v1/consents/{consent['id']}/withdraw", headers=headers)
    _problem(response, 409, "conflict")
    [record] = seen
    assert (record.id, record.status.value, record.case_id) == (consent["id"], "withdrawn", case_id)
    # The cascade failed, so the withdrawal was not recorded without its consequences.
    detail = (await client.get(f"/v1/consents/{consent['id']}", headers=headers)).json()
    assert detail["status"] == "given"


async def test_a_new_consent_supersedes_the_old_one_which_is_kept(
    client: httpx.AsyncClient, headers: dict[str, str], app: FastAPI
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    old = await _give(client, headers, case_id)
    new = await _give(
        client, headers, case_id, recipients=["iom"], categories=["identity"], supersedes=old["id"]
    )
    assert new["supersedes"] == old["id"]
    assert new["status"] == "given"
    old_now = (await client.get(f"/v1/consents/{old['id']}", headers=headers)).json()
    assert old_now["status"] == "superseded"
    assert old_now["superseded_by"] == new["id"]
    assert old_now["recipients"] == ["iom", "ilo"]
    listed = (await client.get(f"/v1/cases/{case_id}/consents", headers=headers)).json()
    assert [(c["id"], c["status"]) for c in listed["items"]] == [
        (new["id"], "given"),
        (old["id"], "superseded"),
    ]
    assert "consent.superseded" in await _actions(app)


async def test_a_superseded_or_withdrawn_consent_cannot_be_superseded(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    old = await _give(client, headers, case_id)
    await _give(client, headers, case_id, supersedes=old["id"])
    response = await client.post(
        f"/v1/cases/{case_id}/consents",
        json=consent_body(supersedes=old["id"]),
        headers=headers,
    )
    assert _problem(response, 409, "invalid-transition")["current_status"] == "superseded"

    other = await _give(client, headers, case_id)
    await client.post(f"/v1/consents/{other['id']}/withdraw", headers=headers)
    response = await client.post(
        f"/v1/cases/{case_id}/consents",
        json=consent_body(supersedes=other["id"]),
        headers=headers,
    )
    assert "withdrawn" in _problem(response, 409, "invalid-transition")["detail"]


async def test_supersedes_must_name_a_consent_of_the_same_case(
    client: httpx.AsyncClient, headers: dict[str, str], caller: CallerFactory
) -> None:
    first = await _case(client, headers, adult_case_body())
    second = await _case(client, headers, adult_case_body())
    elsewhere = await _give(client, headers, first)
    iom = await caller(agency="iom")
    foreign = await _give(client, iom, await _case(client, iom, adult_case_body()))
    for supersedes in (elsewhere["id"], foreign["id"], str(uuid.uuid4())):
        response = await client.post(
            f"/v1/cases/{second}/consents",
            json=consent_body(supersedes=supersedes),
            headers=headers,
        )
        assert _faults(_problem(response, 422, "consent-invalid")) == {
            ("body.supersedes", "supersedes_unknown")
        }


async def test_consent_list_holds_no_childs_words_and_no_other_agencys_consents(
    client: httpx.AsyncClient, headers: dict[str, str], caller: CallerFactory
) -> None:
    case_id = await _case(client, headers, child_case_body())
    await _give(client, headers, case_id, given_by="guardian", child_views=CHILD_VIEWS)
    listed = (await client.get(f"/v1/cases/{case_id}/consents", headers=headers)).json()
    [item] = listed["items"]
    assert item["child_views_recorded"] is True
    assert "afraid" not in str(listed)
    response = await client.get(f"/v1/cases/{case_id}/consents", headers=await caller(agency="iom"))
    _problem(response, 404, "not-found")


async def test_a_consent_for_another_agencys_case_is_refused_as_not_found(
    client: httpx.AsyncClient, headers: dict[str, str], caller: CallerFactory, app: FastAPI
) -> None:
    case_id = await _case(client, headers, adult_case_body())
    response = await client.post(
        f"/v1/cases/{case_id}/consents", json=consent_body(), headers=await caller(agency="iom")
    )
    _problem(response, 404, "not-found")
    assert await raw_rows(app, "consents") == []
