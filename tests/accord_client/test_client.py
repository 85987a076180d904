"""An agency system drives a referral through its whole life with the client alone, against
a real node in this process: tokens by secret and by private_key_jwt, typed answers, typed
problems, retries that never create twice, pages."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from accord_client import (
    AccordClient,
    ClientSecret,
    Conflict,
    IdempotencyKeyReused,
    NotFound,
    PolicyRefused,
    PrivateKeyJwt,
    ServerProblem,
    Unauthenticated,
    ValidationProblem,
    pages,
)
from accord_client.auth import TokenSource
from tests.support.cases import adult_case_body, consent_body
from tests.support.identity import BASE_URL, seed_client
from tests.support.referrals import CATEGORIES, Exchange


async def _no_sleep(_seconds: float) -> None:
    return None


async def _system(ex: Exchange, agency: str, roles: list[str], **config) -> AccordClient:
    seeded = await seed_client(ex.app, agency, roles=roles, data_roles=["counsellor"], **config)
    credentials = ClientSecret(seeded.client_id, seeded.client_secret or "")
    return AccordClient(BASE_URL, credentials, http=ex.client, sleep=_no_sleep)


async def test_an_agency_system_walks_a_referral_from_draft_to_completion(ex: Exchange) -> None:
    unhcr = await _system(ex, "unhcr", ["caseworker"])
    unhcr_focal = await _system(ex, "unhcr", ["focal_point"])
    iom_focal = await _system(ex, "iom", ["focal_point"])
    iom_worker = await _system(ex, "iom", ["caseworker"])

    case = await unhcr.create_case(adult_case_body())
    consent = await unhcr.create_consent(
        case.id,
        consent_body(recipients=["iom"], purposes=["avrr-counselling"], categories=CATEGORIES),
    )
    referral = await unhcr.create_referral(
        {
            "case_id": case.id,
            "to_agency": "iom",
            "purpose": "avrr-counselling",
            "agreement_id": ex.agreement_id,
            "consent_id": consent.id,
            "categories": ["identity"],
        }
    )
    assert referral.status == "pending_approval"
    assert (await unhcr_focal.approve_referral(referral.id)).status == "approved"
    await ex.deliver()

    incoming = [r async for r in pages(iom_focal.list_referrals, direction="incoming")]
    assert [r.id for r in incoming] == [referral.id]
    assert (await iom_focal.accept_referral(referral.id)).status == "accepted"
    done = await iom_worker.complete_referral(referral.id, outcome="decided_to_return")
    assert done.status == "completed"
    await ex.deliver()
    seen = await unhcr_focal.get_referral(referral.id)
    assert [h["status"] for h in seen.history][-1] == "completed"

    agreement = await unhcr.get_agreement(ex.agreement_id)
    assert agreement.status == "active"
    assert [a.id for a in (await unhcr.list_agreements()).items] == [ex.agreement_id]


async def test_consent_is_narrowed_then_withdrawn(ex: Exchange) -> None:
    unhcr = await _system(ex, "unhcr", ["caseworker"])
    consent = await unhcr.create_consent(ex.case_id, consent_body(recipients=["iom", "ilo"]))
    narrowed = await unhcr.narrow_consent(consent.id, {"recipients": ["ilo"]})
    assert narrowed.recipients == ["iom"]
    withdrawn = await unhcr.withdraw_consent(narrowed.id, reason="Changed her mind.")
    assert withdrawn.status == "withdrawn"
    with pytest.raises(Conflict) as refused:
        await unhcr.withdraw_consent(narrowed.id)
    assert refused.value.status == 409


async def test_problems_are_raised_as_their_own_types(ex: Exchange) -> None:
    unhcr = await _system(ex, "unhcr", ["caseworker"])
    with pytest.raises(NotFound) as missing:
        await unhcr.get_referral("0190d6a5-0000-7000-8000-000000000000")
    assert missing.value.code == "not-found"
    with pytest.raises(PolicyRefused) as refused:
        await unhcr.create_referral(
            {
                "case_id": ex.case_id,
                "to_agency": "iom",
                "purpose": "avrr-counselling",
                "agreement_id": ex.agreement_id,
                "consent_id": ex.consent_id,
                "categories": ["health"],
            }
        )
    assert refused.value.status == 403
    assert refused.value.violations
    assert all("code" in v for v in refused.value.violations)
    with pytest.raises(ValidationProblem) as invalid:
        await unhcr.request("POST", "/v1/cases", json={"external_ref": ""})
    assert invalid.value.errors[0]["location"] == "body.external_ref"


async def test_a_private_key_jwt_client_gets_its_token_with_a_signed_assertion(
    ex: Exchange,
) -> None:
    key = PrivateKeyJwt.generate()
    seeded = await seed_client(
        ex.app,
        "unhcr",
        roles=["caseworker"],
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.public_jwk]},
    )
    credentials = PrivateKeyJwt(seeded.client_id, key.private_jwk)
    unhcr = AccordClient(BASE_URL, credentials, http=ex.client)
    assert (await unhcr.get_case(ex.case_id)).id == ex.case_id
    assert unhcr.tokens is not None
    assert unhcr.tokens.fetched == 1

    stranger = PrivateKeyJwt(seeded.client_id, PrivateKeyJwt.generate().private_jwk)
    with pytest.raises(Unauthenticated):
        await AccordClient(BASE_URL, stranger, http=ex.client).get_case(ex.case_id)


async def test_the_token_is_cached_and_fetched_again_before_it_expires(ex: Exchange) -> None:
    seeded = await seed_client(ex.app, "unhcr", roles=["caseworker"])
    now = [1000.0]
    tokens = TokenSource(
        ex.client,
        BASE_URL,
        ClientSecret(seeded.client_id, seeded.client_secret or ""),
        clock=lambda: now[0],
    )
    first = await tokens.bearer()
    assert await tokens.bearer() == first
    assert tokens.fetched == 1
    assert tokens.expires_at is not None
    assert tokens.expires_at > now[0] + tokens.margin
    now[0] = tokens.expires_at - tokens.margin - 1
    assert await tokens.bearer() == first
    now[0] += 1
    second = await tokens.bearer()
    assert tokens.fetched == 2
    assert second != first


class Flaky(httpx.AsyncBaseTransport):
    """The network between the system and the node: it refuses the connection, or a gateway
    answers 503, where ``fail`` says, before the node sees the request; it records what was
    sent. (A lost answer after the node acted is the node's Idempotency-Key handling to
    replay; the client's part, tested here, is to resend the same key.)"""

    def __init__(self, inner: httpx.AsyncBaseTransport, fail: Callable[[int], str | None]):
        self.inner, self.fail, self.sent = inner, fail, []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        how = self.fail(len(self.sent))
        if how == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if how == "503":
            return httpx.Response(503, json={"status": 503, "title": "Unavailable"})
        return await self.inner.handle_async_request(request)


async def _flaky_client(
    ex: Exchange, fail: Callable[[int], str | None]
) -> tuple[AccordClient, Flaky]:
    seeded = await seed_client(ex.app, "unhcr", roles=["caseworker"])
    inner = httpx.ASGITransport(app=ex.app)
    flaky = Flaky(inner, lambda n: None if n == 1 else fail(n - 1))  # the token goes through
    http = httpx.AsyncClient(transport=flaky)
    credentials = ClientSecret(seeded.client_id, seeded.client_secret or "")
    return AccordClient(BASE_URL, credentials, http=http, sleep=_no_sleep), flaky


async def test_a_post_is_retried_under_one_idempotency_key(ex: Exchange) -> None:
    failures = {1: "refused", 2: "503"}
    unhcr, flaky = await _flaky_client(ex, failures.get)
    case = await unhcr.create_case(adult_case_body())
    posts = [r for r in flaky.sent if r.method == "POST" and r.url.path == "/v1/cases"]
    assert len(posts) == 3
    keys = {r.headers["Idempotency-Key"] for r in posts}
    assert len(keys) == 1, "every retry of one call carries the key of that call"
    assert (await unhcr.get_case(case.id)).external_ref == case.external_ref

    await unhcr.create_case(adult_case_body())
    later = [r for r in flaky.sent if r.method == "POST" and r.url.path == "/v1/cases"][-1]
    assert later.headers["Idempotency-Key"] not in keys, "a new call has a new key"


async def test_retries_stop_after_the_budget_and_raise_the_last_problem(ex: Exchange) -> None:
    unhcr, flaky = await _flaky_client(ex, lambda _n: "503")
    unhcr.retries = 2
    with pytest.raises(ServerProblem):
        await unhcr.get_case(ex.case_id)
    assert len(flaky.sent) == 1 + 3


async def test_a_reused_key_with_another_body_is_its_own_problem() -> None:
    def node(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422,
            json={
                "type": "/problems/idempotency-key-reused",
                "title": "Idempotency key reused",
                "status": 422,
                "detail": "This key was used with another body.",
                "code": "idempotency_key_reused",
            },
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(node))
    accord = AccordClient(BASE_URL, bearer="t", http=http, sleep=_no_sleep)
    with pytest.raises(IdempotencyKeyReused) as reused:
        await accord.create_case({"external_ref": "F-1"})
    assert reused.value.code == "idempotency_key_reused"


def _scripted(answers: list[httpx.Response], seen: list[httpx.Request]) -> httpx.AsyncClient:
    def node(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return httpx.AsyncClient(transport=httpx.MockTransport(node))


async def test_429_and_in_progress_wait_as_long_as_retry_after_says() -> None:
    seen: list[httpx.Request] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    in_progress = {"status": 409, "code": "idempotency_in_progress", "title": "In progress"}
    answers = [
        httpx.Response(429, headers={"Retry-After": "7"}, json={"status": 429}),
        httpx.Response(409, headers={"Retry-After": "3"}, json=in_progress),
        httpx.Response(
            201,
            json={
                "id": "c1",
                "agency": "unhcr",
                "external_ref": "F-1",
                "created_at": "2026-11-29T12:00:00Z",
                "updated_at": "2026-11-29T12:00:00Z",
            },
        ),
    ]
    accord = AccordClient(BASE_URL, bearer="t", http=_scripted(answers, seen), sleep=sleep)
    case = await accord.create_case({"external_ref": "F-1"})
    assert case.id == "c1"
    assert waits[0] >= 7
    assert waits[1] >= 3
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 1


async def test_a_conflict_that_is_not_in_progress_is_not_retried() -> None:
    seen: list[httpx.Request] = []
    answers = [httpx.Response(409, json={"status": 409, "type": "/problems/invalid-transition"})]
    accord = AccordClient(BASE_URL, bearer="t", http=_scripted(answers, seen), sleep=_no_sleep)
    with pytest.raises(Conflict) as refused:
        await accord.approve_referral("r1")
    assert refused.value.code == "invalid-transition"
    assert len(seen) == 1


def _event(n: int) -> dict:
    return {
        "id": f"e{n}",
        "type": "referral.sent",
        "timestamp": "2026-11-29T12:00:00Z",
        "data": {"referral_id": f"r{n}", "status": "sent"},
    }


async def test_the_event_follower_resumes_from_the_cursor_it_was_given() -> None:
    feed = [_event(n) for n in range(1, 6)]

    def node(request: httpx.Request) -> httpx.Response:
        after = request.url.params.get("after")
        start = 0 if after is None else int(after.removeprefix("e"))
        items = feed[start : start + 2]
        return httpx.Response(
            200, json={"items": items, "next_cursor": items[-1]["id"] if items else None}
        )

    http = httpx.AsyncClient(transport=httpx.MockTransport(node))
    accord = AccordClient(BASE_URL, bearer="t", http=http, sleep=_no_sleep)
    seen, cursor = [], None
    async for event, position in accord.follow_events(stop_when_caught_up=True):
        seen.append(event.id)
        cursor = position
        if event.id == "e3":
            break  # the system stops (a restart) after handling e3
    async for event, position in accord.follow_events(after=cursor, stop_when_caught_up=True):
        seen.append(event.id)
        cursor = position
    assert seen == ["e1", "e2", "e3", "e4", "e5"]
    assert cursor == "e5"
