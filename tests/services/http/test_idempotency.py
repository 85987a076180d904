"""A POST sent again with the same ``Idempotency-Key`` acts once: a retry after a lost answer
gets the first answer back and creates nothing (DESIGN §10)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.base import utcnow
from kit.db.session import Session
from kit.http.idempotency import Claim, IdempotencyInProgress, Replay
from kit.http.routing import api_router
from kit.settings import Settings
from tests.support.cases import adult_case_body, holds_in_clear, raw_rows
from tests.support.federation import member_settings
from tests.support.markers import sqlite_only
from tests.support.referrals import ROOT, Exchange, exchange, person

Caller = Annotated[Principal, Requires(scope="cases:write", role="caseworker")]

# Routes of this test only: one that counts its runs, one that waits for the test, one that
# fails the first time. Real routes, on the real stack; only what the handler does is staged.
probe = api_router(prefix="/v1/idempotency-probe", tags=["probe"])


@probe.post("/count", status_code=201)
async def count(request: Request, _: Caller, _session: Session) -> dict[str, int]:
    request.app.state.probe_runs += 1
    return {"run": request.app.state.probe_runs}


@probe.post("/wait", status_code=201)
async def wait(request: Request, _: Caller, _session: Session) -> dict[str, str]:
    request.app.state.probe_entered.set()
    await request.app.state.probe_gate.wait()
    return {"done": "yes"}


@probe.post("/flaky", status_code=201)
async def flaky(request: Request, _: Caller, _session: Session) -> dict[str, int]:
    request.app.state.probe_runs += 1
    if request.app.state.probe_runs == 1:
        raise RuntimeError("the first attempt fails")
    return {"run": request.app.state.probe_runs}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return member_settings(database_url, tmp_path, ROOT)


@pytest.fixture
def app(settings: Settings, make_app: Callable[[Settings], FastAPI]) -> FastAPI:
    app = make_app(settings)
    app.include_router(probe)
    app.state.probe_runs = 0
    app.state.probe_entered = asyncio.Event()
    app.state.probe_gate = asyncio.Event()
    return app


@pytest.fixture
async def caseworker(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    from tests.support.identity import seed_agency

    for agency in ("unhcr", "iom"):
        await seed_agency(app, agency)
    return await person(app, client, "unhcr", ["caseworker"])


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def _outgoing_referrals(app: FastAPI) -> int:
    return sum(1 for r in await raw_rows(app, "referrals") if r["direction"] == "outgoing")


async def test_a_repeated_post_with_the_same_key_creates_one_referral(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    ex: Exchange = await exchange(app, client, tmp_path)
    headers = keyed(ex.people["unhcr_caseworker"], "referral-7f3c")
    body = ex.body()
    first = await client.post("/v1/referrals", json=body, headers=headers)
    assert first.status_code == 201, first.text
    # The same object, serialized otherwise (keys reordered, spaced): the same request.
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = await client.post(
        "/v1/referrals",
        content=reordered,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _outgoing_referrals(app) == 1
    # Without a key every POST acts: the count above is not one for another reason.
    assert await client.post("/v1/referrals", json=body, headers=ex.people["unhcr_caseworker"])
    assert await _outgoing_referrals(app) == 2
    metrics = app.state.metrics.render().decode()
    assert 'accord_idempotency_requests_total{outcome="replayed"} 1.0' in metrics


async def test_a_dropped_connection_after_the_commit_then_a_retry_creates_no_duplicate(
    app: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The node commits, then the connection breaks as the answer is sent; the client never
    learns whether it worked, and retries with the same key."""
    ex: Exchange = await exchange(app, client, tmp_path)
    headers = keyed(ex.people["unhcr_caseworker"], "lost-answer-1")
    body = json.dumps(ex.body()).encode()
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/referrals",
        "raw_path": b"/v1/referrals",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # the client never says more
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        raise ConnectionResetError("the client is gone")

    with contextlib.suppress(ConnectionResetError):
        await app(scope, receive, send)
    assert await _outgoing_referrals(app) == 1  # it did commit

    retry = await client.post(
        "/v1/referrals", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert await _outgoing_referrals(app) == 1


async def test_the_same_key_with_another_body_or_path_is_refused(
    client: httpx.AsyncClient, caseworker: dict[str, str], app: FastAPI
) -> None:
    headers = keyed(caseworker, "case-one")
    first = await client.post("/v1/cases", json=adult_case_body(), headers=headers)
    assert first.status_code == 201, first.text
    for path, body in (("/v1/cases", adult_case_body()), ("/v1/idempotency-probe/count", {})):
        reused = await client.post(path, json=body, headers=headers)
        assert reused.status_code == 422, reused.text
        problem = reused.json()
        assert problem["type"] == "/problems/idempotency-key-reused"
        assert problem["code"] == "idempotency_key_reused"
        assert "another body or path" in problem["detail"]
    assert len(await raw_rows(app, "cases")) == 1
    assert app.state.probe_runs == 0
    # The kept answer holds the case as created: sealed, never in the clear.
    kept = await raw_rows(app, "idempotency_keys")
    assert kept
    assert not holds_in_clear(kept, "Haddad")


async def test_a_repeat_while_the_first_still_runs_is_told_to_wait(
    app: FastAPI, client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    headers = keyed(caseworker, "slow-one")
    first = asyncio.create_task(client.post("/v1/idempotency-probe/wait", headers=headers))
    await asyncio.wait_for(app.state.probe_entered.wait(), timeout=10)

    repeat = await client.post("/v1/idempotency-probe/wait", headers=headers)
    assert repeat.status_code == 409, repeat.text
    assert repeat.json()["code"] == "idempotency_in_progress"
    assert int(repeat.headers["retry-after"]) >= 1

    app.state.probe_gate.set()
    assert (await asyncio.wait_for(first, timeout=10)).status_code == 201
    later = await client.post("/v1/idempotency-probe/wait", headers=headers)
    assert later.status_code == 201
    assert later.headers["idempotent-replayed"] == "true"


async def test_the_same_key_from_another_client_or_agency_is_theirs_alone(
    app: FastAPI, client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    colleague = await person(app, client, "unhcr", ["caseworker"])
    elsewhere = await person(app, client, "iom", ["caseworker"])
    answers = [
        await client.post("/v1/idempotency-probe/count", headers=keyed(who, "shared-key"))
        for who in (caseworker, colleague, elsewhere)
    ]
    assert [a.json()["run"] for a in answers] == [1, 2, 3]
    assert not any("idempotent-replayed" in a.headers for a in answers)
    mine = await client.post("/v1/idempotency-probe/count", headers=keyed(caseworker, "shared-key"))
    assert mine.json() == {"run": 1}
    assert app.state.probe_runs == 3


async def test_a_failed_first_attempt_does_not_pin_the_key(
    app: FastAPI, client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    headers = keyed(caseworker, "flaky-1")
    failed = await client.post("/v1/idempotency-probe/flaky", headers=headers)
    assert failed.status_code == 500
    retried = await client.post("/v1/idempotency-probe/flaky", headers=headers)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert app.state.probe_runs == 2
    assert (await client.post("/v1/idempotency-probe/flaky", headers=headers)).json() == {"run": 2}


async def test_an_interrupted_first_attempt_does_not_pin_the_key(
    app: FastAPI, client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    headers = keyed(caseworker, "interrupted-1")
    first = asyncio.create_task(client.post("/v1/idempotency-probe/wait", headers=headers))
    await asyncio.wait_for(app.state.probe_entered.wait(), timeout=10)
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    assert await raw_rows(app, "idempotency_keys") == []
    app.state.probe_gate.set()
    retried = await client.post("/v1/idempotency-probe/wait", headers=headers)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


async def test_a_request_that_outlived_its_lease_cannot_commit_after_a_retry_took_over(
    app: FastAPI, caseworker: dict[str, str]
) -> None:
    keys = app.state.idempotency
    claim = partial(
        keys.claim,
        agency="unhcr",
        caller="client:c-1",
        key="k",
        fingerprint="f" * 64,
        master_key=app.state.master_key,
    )
    started = utcnow()
    keys.clock = lambda: started
    async with app.state.db.sessions.begin() as session:
        first = await claim(session)
    async with app.state.db.sessions.begin() as session:
        assert await claim(session) == "in_progress"
    keys.clock = lambda: started + keys.lease
    async with app.state.db.sessions.begin() as session:
        second = await claim(session)
    assert isinstance(first, Claim)
    assert isinstance(second, Claim)
    assert second.token != first.token

    first.response = JSONResponse({"run": 1}, status_code=201)
    with pytest.raises(IdempotencyInProgress):
        async with app.state.db.sessions.begin() as session:
            await first.record(session)
    second.response = JSONResponse({"run": 2}, status_code=201)
    async with app.state.db.sessions.begin() as session:
        await second.record(session)
    async with app.state.db.sessions.begin() as session:
        replay = await claim(session)
    assert isinstance(replay, Replay)
    assert replay.body(app.state.master_key) == b'{"run":2}'


async def test_a_refused_request_gets_the_same_refusal_on_retry(
    app: FastAPI, client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    headers = keyed(caseworker, "refused-1")
    body = adult_case_body(profile={"date_of_birth": "not a date"})
    refused = await client.post("/v1/cases", json=body, headers=headers)
    assert refused.status_code == 422, refused.text
    again = await client.post("/v1/cases", json=body, headers=headers)
    assert again.status_code == 422
    assert again.json() == refused.json()
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_request_without_a_valid_token_keeps_no_key(
    client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    anonymous = await client.post("/v1/cases", json={}, headers={"Idempotency-Key": "k-1"})
    assert anonymous.status_code == 401
    created = await client.post(
        "/v1/cases", json=adult_case_body(), headers=keyed(caseworker, "k-1")
    )
    assert created.status_code == 201


async def test_an_expired_key_runs_again_and_is_purged(
    app: FastAPI, client: httpx.AsyncClient, caseworker: dict[str, str]
) -> None:
    keys = app.state.idempotency
    keys.purge_every = timedelta(days=7)  # first, expiry alone (no purge in between)
    probe = "/v1/idempotency-probe/count"
    assert (await client.post(probe, headers=keyed(caseworker, "old-key"))).json() == {"run": 1}
    assert (await client.post(probe, headers=keyed(caseworker, "other"))).json() == {"run": 2}
    day_later = utcnow() + timedelta(hours=24, seconds=1)
    keys.clock = lambda: day_later
    again = await client.post(probe, headers=keyed(caseworker, "old-key"))
    assert again.json() == {"run": 3}
    assert "idempotent-replayed" not in again.headers

    async with app.state.db.sessions.begin() as session:
        assert await keys.purge(session, now=day_later) == 1  # "other"; "old-key" is new again
    assert [r["key"] for r in await raw_rows(app, "idempotency_keys")] == ["old-key"]

    # A claim purges what has expired, at most once per interval.
    keys.purge_every = timedelta(0)
    keys.clock = lambda: day_later + timedelta(days=2)
    assert (await client.post(probe, headers=keyed(caseworker, "new"))).json() == {"run": 4}
    assert [r["key"] for r in await raw_rows(app, "idempotency_keys")] == ["new"]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
async def test_a_malformed_key_is_refused_in_words(
    client: httpx.AsyncClient, caseworker: dict[str, str], key: str
) -> None:
    refused = await client.post("/v1/cases", json=adult_case_body(), headers=keyed(caseworker, key))
    assert refused.status_code == 400
    assert refused.json()["type"] == "/problems/idempotency-key-invalid"
    assert "1 to 255 printable ASCII" in refused.json()["detail"]


@sqlite_only
async def test_every_api_post_documents_the_header_and_its_answers(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    posts = {
        path: item["post"]
        for path, item in document["paths"].items()
        if "post" in item and path.startswith("/v1/")
    }
    assert "/v1/referrals" in posts
    assert "/v1/referrals/{referral_id}/approve" in posts
    for path, operation in posts.items():
        names = [p["name"] for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, path
        assert {"409", "422"} <= set(operation["responses"]), path
    token = document["paths"]["/oauth/token"]["post"]
    assert "Idempotency-Key" not in [p["name"] for p in token.get("parameters", [])]
