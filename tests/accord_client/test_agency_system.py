"""The issue's acceptance test: an agency system that talks to its node through
``accord_client`` only (the node, its peer agency and the agreement are set up by test
support) subscribes to webhooks and verifies every delivery with the Standard Webhooks
library, catches up from the event feed after being offline, retries POSTs whose answer was
lost without creating anything twice, and gets every delivery once after its endpoint was
down. All in process: the node through httpx's ASGI transport, the system's webhook endpoint
as an ASGI app the node's webhook worker reaches through an injected transport, time driven
by the worker's clock."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook as StandardWebhook

from accord_client import AccordClient, ClientSecret, verify_webhook
from accord_client.models import Event
from kit.db.base import utcnow
from kit.settings import Settings
from services.events.types import CONSENT, ERASURE, REFERRAL
from services.webhooks.worker import WebhookWorker
from tests.support.cases import adult_case_body, consent_body
from tests.support.federation import member_settings
from tests.support.identity import BASE_URL, seed_client
from tests.support.referrals import ROOT, Exchange

NODE_SIDE = "http://127.0.0.1:9"
NOTE = "Speaks Serbian; prefers a woman counsellor."
WITHDRAWAL_REASON = "She has decided to stay with her sister."
#: What an event's ``data`` may hold: ids, agency slugs, status and reason codes, deadlines.
TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # The feed serves events at once here (its settle window is tested in tests/services).
    return member_settings(database_url, tmp_path, ROOT, event_feed_settle_seconds=0)


async def _no_sleep(_seconds: float) -> None:
    return None


async def _system(
    ex: Exchange, agency: str, roles: list[str], http: httpx.AsyncClient | None = None
) -> AccordClient:
    """One of the agency's systems (an API client with ``roles``), calling the node."""
    seeded = await seed_client(ex.app, agency, roles=roles, data_roles=["counsellor"])
    credentials = ClientSecret(seeded.client_id, seeded.client_secret or "")
    return AccordClient(BASE_URL, credentials, http=http or ex.client, sleep=_no_sleep)


@dataclass
class Clock:
    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Endpoint:
    """The agency system's webhook endpoint. It verifies each delivery (``verify``, given the
    body and headers, returns the payload or raises) and answers 400 to one that does not
    verify; it keeps what verified as ``(webhook-id, payload)``. ``state`` is ``up``,
    ``503`` (a gateway answers for it) or ``refused`` (nothing listens)."""

    path: str
    verify: Callable[[bytes, dict[str, str]], dict[str, Any]] = lambda _b, _h: {}
    state: str = "up"
    got: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    attempts: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.attempts += 1
        status = 503 if self.state == "503" else 204
        if status == 204:
            try:
                payload = self.verify(body, headers)
            except Exception:  # any failure to verify is a refusal
                status = 400
            else:
                self.got.append((headers["webhook-id"], payload))
                self.bodies.append(body)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    @property
    def url(self) -> str:
        return f"{NODE_SIDE}{self.path}"


class Network(httpx.AsyncBaseTransport):
    """The network between the node and the agencies' endpoints (one per path): an endpoint
    that is ``refused`` refuses the connection."""

    def __init__(self, endpoints: tuple[Endpoint, ...]) -> None:
        self.endpoints = {e.path: (e, httpx.ASGITransport(app=e)) for e in endpoints}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint, transport = self.endpoints[request.url.path]
        if endpoint.state == "refused":
            endpoint.attempts += 1
            raise httpx.ConnectError("connection refused", request=request)
        return await transport.handle_async_request(request)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def deliveries(app: FastAPI, clock: Clock) -> AsyncIterator[Callable[..., Any]]:
    """``deliver(*endpoints)``: the node's webhook worker runs until it has nothing left to
    do now (on ``clock``'s time), delivering to those endpoints."""
    clients: list[httpx.AsyncClient] = []

    async def deliver(*endpoints: Endpoint) -> int:
        http = httpx.AsyncClient(transport=Network(endpoints))
        clients.append(http)
        worker = WebhookWorker(
            app.state.db, app.state.master_key, app.state.settings, http=http, clock=clock
        )
        total = 0
        while done := await worker.step():
            total += done
        return total

    yield deliver
    for http in clients:
        await http.aclose()


def _assert_nothing_personal(data: dict[str, Any]) -> None:
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        assert all(isinstance(v, str | int) for v in values), key
        assert all(TOKEN.match(str(v)) for v in values), f"{key}: {value!r} is not a code"


async def _feed(system: AccordClient, after: str | None) -> tuple[list[Event], str | None]:
    seen, cursor = [], after
    async for event, position in system.follow_events(after=after, stop_when_caught_up=True):
        seen.append(event)
        cursor = position
    return seen, cursor


async def _subscribe(system: AccordClient, path: str, types: list[str]) -> Endpoint:
    """The system subscribes its endpoint; the endpoint verifies with the Standard Webhooks
    library (on the real clock) under the secret the node showed once."""
    hook = await system.create_webhook(f"{NODE_SIDE}{path}", event_types=types)
    assert hook.secret.startswith("whsec_")
    return Endpoint(path, StandardWebhook(hook.secret).verify)


def _of(endpoint: Endpoint, referral_id: str) -> list[str]:
    return [p["type"] for _, p in endpoint.got if p["data"].get("referral_id") == referral_id]


async def test_an_agency_system_follows_a_referral_to_its_erasure_by_webhooks_and_the_feed(
    ex: Exchange, deliveries
) -> None:
    unhcr = await _system(ex, "unhcr", ["admin"])
    caseworker = await _system(ex, "unhcr", ["caseworker"])
    focal_point = await _system(ex, "unhcr", ["focal_point"])
    iom = await _system(ex, "iom", ["admin", "focal_point"])

    unhcr_endpoint = await _subscribe(unhcr, "/unhcr/accord", [*REFERRAL, *CONSENT, *ERASURE])
    iom_endpoint = await _subscribe(iom, "/iom/accord", [*REFERRAL, *ERASURE])
    assert [w.url for w in (await unhcr.list_webhooks()).items] == [unhcr_endpoint.url]
    _, cursor = await _feed(unhcr, None)  # the system is in step with its feed

    case = await caseworker.create_case(adult_case_body())
    consent = await caseworker.create_consent(
        case.id,
        consent_body(recipients=["iom"], purposes=["avrr-counselling"], categories=["identity"]),
    )
    referral = await caseworker.create_referral(
        {
            "case_id": case.id,
            "to_agency": "iom",
            "purpose": "avrr-counselling",
            "agreement_id": ex.agreement_id,
            "consent_id": consent.id,
            "categories": ["identity"],
            "note": NOTE,
        }
    )
    await focal_point.approve_referral(referral.id)
    await ex.deliver()
    await deliveries(unhcr_endpoint, iom_endpoint)
    before, cursor = await _feed(unhcr, cursor)
    assert [e.type for e in before if e.data.get("referral_id") == referral.id] == [
        "referral.pending_approval",
        "referral.approved",
        "referral.sent",
    ]

    # The system goes offline: it polls no more, and the others act meanwhile.
    await iom.accept_referral(referral.id)
    await ex.deliver()
    await caseworker.withdraw_consent(consent.id, reason=WITHDRAWAL_REASON)
    while await ex.deliver():
        pass
    await deliveries(unhcr_endpoint, iom_endpoint)

    # Back, it resumes from its last cursor: everything since, each event once.
    after, _ = await _feed(unhcr, cursor)
    everything, _ = await _feed(unhcr, None)
    caught_up = [e.id for e in before + after]
    assert len(set(caught_up)) == len(caught_up)
    assert caught_up == [e.id for e in everything][-len(caught_up) :]
    assert {"referral.accepted", "consent.withdrawn", "referral.revoked"} <= {e.type for e in after}

    # The webhooks: each delivery verified and sent once; the referral's whole life is there.
    assert _of(unhcr_endpoint, referral.id) == [
        "referral.pending_approval",
        "referral.approved",
        "referral.sent",
        "referral.accepted",
        "referral.revoked",
        "erasure.requested",
        "erasure.confirmed",
    ]
    consents = [
        p["type"]
        for _, p in unhcr_endpoint.got
        if p["type"].startswith("consent.") and p["data"]["consent_id"] == consent.id
    ]
    assert consents == ["consent.given", "consent.withdrawn"]
    assert _of(iom_endpoint, referral.id) == [
        "referral.received",
        "referral.accepted",
        "referral.revoked",
        "erasure.erased",
    ]
    # What the feed shows since the subscription is what the webhooks brought.
    assert sorted(
        (p["type"], datetime.fromisoformat(p["timestamp"])) for _, p in unhcr_endpoint.got
    ) == sorted((e.type, e.timestamp) for e in before + after)
    for endpoint in (unhcr_endpoint, iom_endpoint):
        ids = [webhook_id for webhook_id, _ in endpoint.got]
        assert len(set(ids)) == len(ids) == endpoint.attempts, "every delivery verified, once"
        for _, payload in endpoint.got:
            assert set(payload) == {"type", "timestamp", "data"}
            _assert_nothing_personal(payload["data"])
        for body in endpoint.bodies:
            for personal in ("Amina", "Haddad", "1990-05-02", "Serbian", WITHDRAWAL_REASON):
                assert personal.encode() not in body


class LosesFirstAnswers(httpx.AsyncBaseTransport):
    """The network between the system and the node loses the answer to the first POST of
    each of ``paths``: the node got the request and committed, then the connection drops
    before its answer arrives."""

    def __init__(self, app: FastAPI, paths: set[str]) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.paths = paths
        self.posts: list[httpx.Request] = []
        self.lost: dict[str, dict[str, Any]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        path = request.url.path
        if request.method != "POST" or path not in self.paths:
            return response
        self.posts.append(request)
        if path in self.lost:
            return response
        self.lost[path] = json.loads(await response.aread())
        raise httpx.ReadError("connection reset by peer", request=request)


async def test_posts_retried_after_a_lost_answer_create_nothing_twice(ex: Exchange) -> None:
    network = LosesFirstAnswers(ex.app, {"/v1/cases", "/v1/referrals"})
    async with httpx.AsyncClient(transport=network) as http:
        caseworker = await _system(ex, "unhcr", ["caseworker"], http=http)
        case = await caseworker.create_case(adult_case_body())
        referral = await caseworker.create_referral(
            {
                "case_id": ex.case_id,
                "to_agency": "iom",
                "purpose": "avrr-counselling",
                "agreement_id": ex.agreement_id,
                "consent_id": ex.consent_id,
                "categories": ["identity"],
            }
        )
        assert case.id == network.lost["/v1/cases"]["id"], "the first answer, replayed"
        assert referral.id == network.lost["/v1/referrals"]["id"]
        cases = await caseworker.list_cases(external_ref=case.external_ref)
        referrals = await caseworker.list_referrals(direction="outgoing")
    assert [c.id for c in cases.items] == [case.id]
    assert [r.id for r in referrals.items] == [referral.id]
    for path in ("/v1/cases", "/v1/referrals"):
        sent = [r for r in network.posts if r.url.path == path]
        assert len(sent) == 2
        assert len({r.headers["Idempotency-Key"] for r in sent}) == 1, "one key per call"


async def test_an_endpoint_down_for_a_while_gets_every_event_once_back(
    ex: Exchange, deliveries, clock: Clock
) -> None:
    admin = await _system(ex, "unhcr", ["admin"])
    iom = await _system(ex, "iom", ["focal_point"])
    hook = await admin.create_webhook(f"{NODE_SIDE}/unhcr/accord", event_types=list(REFERRAL))
    secret = [hook.secret]
    # Hours pass on the worker's clock: the endpoint checks timestamps against that clock.
    endpoint = Endpoint(
        "/unhcr/accord",
        lambda body, headers: verify_webhook(
            secret[-1], headers, body, now=lambda: clock.now.timestamp()
        ),
        state="refused",
    )

    sent = await ex.sent()
    await deliveries(endpoint)
    clock.advance(hours=1)
    await deliveries(endpoint)
    endpoint.state = "503"
    for _ in range(2):
        clock.advance(hours=1)
        await deliveries(endpoint)
    await iom.accept_referral(sent["id"])
    await ex.deliver()
    await deliveries(endpoint)
    assert endpoint.got == []
    assert endpoint.attempts >= 3 * 3
    pending = await admin.list_deliveries(hook.id, status="pending")
    assert {d.last_error for d in pending.items} <= {"http_503", "connect_error"}
    assert len(pending.items) == 4

    endpoint.state = "up"
    clock.advance(hours=1)
    await deliveries(endpoint)
    clock.advance(hours=1)
    await deliveries(endpoint)

    ids = [webhook_id for webhook_id, _ in endpoint.got]
    assert sorted(ids) == sorted(d.id for d in pending.items), "each delivery once, same id"
    assert sorted(p["type"] for _, p in endpoint.got) == sorted(
        ["referral.pending_approval", "referral.approved", "referral.sent", "referral.accepted"]
    )
    delivered = await admin.list_deliveries(hook.id, status="delivered")
    assert sorted(d.id for d in delivered.items) == sorted(ids)
    assert (await admin.list_deliveries(hook.id, status="pending")).items == []
    assert (await admin.list_deliveries(hook.id, status="failed")).items == []

    # The system lost one in its own storage: it asks for it again, under a new secret.
    secret.append((await admin.rotate_webhook_secret(hook.id)).secret)
    assert secret[-1] != secret[0]
    again = await admin.redeliver(hook.id, ids[0])
    assert again.status == "pending"
    await deliveries(endpoint)
    assert [webhook_id for webhook_id, _ in endpoint.got] == [*ids, ids[0]]
    await admin.delete_webhook(hook.id)
    assert (await admin.list_webhooks()).items == []
