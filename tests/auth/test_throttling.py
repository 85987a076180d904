"""Guessing is slowed down per account and stopped per (account, address); the owner, and an API
client with its right secret, always get in (issue 13)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from auth import throttle
from kit.db.base import utcnow
from tests.support.app import make_settings, serving
from tests.support.identity import (
    BASE_URL,
    TOKEN_URL,
    SeededClient,
    SeededUser,
    seed_agency,
    seed_client,
    seed_user,
    sign_in,
)

OWNER = "198.51.100.2"
ATTACKER = "203.0.113.7"
PROXY = "10.0.0.1"


@dataclass
class Guard:
    """The app's throttle with a clock the test moves and a sleep that only notes its delay."""

    now: datetime = field(default_factory=utcnow)
    slept: list[float] = field(default_factory=list)

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def guard(app: FastAPI) -> Guard:
    installed = Guard()
    app.state.throttle = throttle.Throttle(clock=installed.clock, sleep=installed.sleep)
    return installed


@asynccontextmanager
async def calling_from(
    app: FastAPI, address: str, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose TCP peer is ``address``; the app's lifespan must already be running."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as http:
        yield http


async def _person(app: FastAPI) -> SeededUser:
    return await seed_user(app, "unhcr", "fp@unhcr.example", roles=["focal_point"])


def _wrong(person: SeededUser) -> SeededUser:
    return replace(person, password="guess")


async def _bad_secret(http: httpx.AsyncClient, system: SeededClient) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(system.client_id, "wrong-secret"),
    )


async def _right_secret(http: httpx.AsyncClient, system: SeededClient) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(system.client_id, system.client_secret or ""),
    )


# People: the console's sign-in.


async def test_repeated_bad_passwords_lock_the_sign_in(app, client, agencies) -> None:
    person = await _person(app)
    for _ in range(throttle.PAIR_LIMIT):
        assert (await sign_in(client, _wrong(person))).status_code == 401
    # Even the right password waits out the lock: the attacker cannot tell when they hit it.
    locked = await sign_in(client, person)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert "Try again in" in locked.text


async def test_the_owner_elsewhere_is_not_locked_out_with_the_attacker(
    app, client, agencies, guard
) -> None:
    person = await _person(app)
    async with calling_from(app, ATTACKER) as attacker:
        for _ in range(throttle.PAIR_LIMIT):
            assert (await sign_in(attacker, _wrong(person))).status_code == 401
        assert (await sign_in(attacker, person)).status_code == 429
    async with calling_from(app, OWNER) as owner:
        assert (await sign_in(owner, person)).status_code == 303
    async with calling_from(app, ATTACKER) as attacker:
        assert (await sign_in(attacker, person)).status_code == 429


async def test_failures_older_than_the_window_stop_counting(app, client, agencies, guard) -> None:
    person = await _person(app)
    for _ in range(throttle.PAIR_LIMIT - 1):
        assert (await sign_in(client, _wrong(person))).status_code == 401
    guard.now += throttle.WINDOW + timedelta(seconds=1)
    for _ in range(throttle.PAIR_LIMIT - 1):
        assert (await sign_in(client, _wrong(person))).status_code == 401
    assert (await sign_in(client, person)).status_code == 303


async def test_a_lock_ends_after_fifteen_minutes(app, client, agencies, guard) -> None:
    person = await _person(app)
    for _ in range(throttle.PAIR_LIMIT):
        assert (await sign_in(client, _wrong(person))).status_code == 401
    guard.now += throttle.PAIR_LOCK - timedelta(seconds=1)
    locked = await sign_in(client, person)
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "1"
    guard.now += timedelta(seconds=1)
    assert (await sign_in(client, person)).status_code == 303


async def test_a_success_forgives_its_address(app, client, agencies, guard) -> None:
    person = await _person(app)
    for _ in range(2):
        for _ in range(throttle.PAIR_LIMIT - 1):
            assert (await sign_in(client, _wrong(person))).status_code == 401
        assert (await sign_in(client, person)).status_code == 303


async def test_a_right_password_after_25_failures_elsewhere_waits_at_most_five_seconds(
    app, client, agencies, guard
) -> None:
    person = await _person(app)
    for n in range(5):
        async with calling_from(app, f"203.0.113.{n + 1}") as attacker:
            for _ in range(throttle.PAIR_LIMIT):
                assert (await sign_in(attacker, _wrong(person))).status_code == 401
    # Failures 21 to 24 each made the next attempt wait one second more.
    assert guard.slept == [1.0, 2.0, 3.0, 4.0]
    async with calling_from(app, OWNER) as owner:
        assert (await sign_in(owner, person)).status_code == 303
    assert guard.slept[-1] == throttle.MAX_DELAY
    async with calling_from(app, "203.0.113.6") as attacker:
        for _ in range(throttle.PAIR_LIMIT):
            assert (await sign_in(attacker, _wrong(person))).status_code == 401
    assert max(guard.slept) == throttle.MAX_DELAY


@pytest.mark.fresh_database  # parallel sign-ins: real transactions, racing
async def test_a_burst_of_parallel_guesses_gets_five_tries(app, client, agencies) -> None:
    person = await _person(app)

    async def guess() -> httpx.Response:
        # A client each: parallel sign-ins in one cookie jar would overwrite each other's CSRF.
        async with calling_from(app, ATTACKER) as attacker:
            return await sign_in(attacker, _wrong(person))

    answers = await asyncio.gather(*(guess() for _ in range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * throttle.PAIR_LIMIT + [429] * (8 - throttle.PAIR_LIMIT)


# Where a caller is: X-Forwarded-For from a trusted proxy only.


@pytest.fixture
async def behind_proxy(database_url: str, make_app) -> AsyncIterator[FastAPI]:
    app = make_app(make_settings(database_url, trusted_proxies=f"{PROXY}, 192.0.2.0/24"))
    async with serving(app):
        await seed_agency(app, "unhcr")
        yield app


async def test_a_trusted_proxy_tells_its_callers_apart(behind_proxy) -> None:
    person = await _person(behind_proxy)
    async with calling_from(behind_proxy, PROXY, {"X-Forwarded-For": ATTACKER}) as attacker:
        for _ in range(throttle.PAIR_LIMIT):
            assert (await sign_in(attacker, _wrong(person))).status_code == 401
        assert (await sign_in(attacker, person)).status_code == 429
    # The owner reaches us through the same proxy, after a second one of ours.
    forwarded = {"X-Forwarded-For": f"{OWNER}, 192.0.2.9"}
    async with calling_from(behind_proxy, PROXY, forwarded) as owner:
        assert (await sign_in(owner, person)).status_code == 303


async def test_a_forwarded_address_from_anyone_else_is_ignored(behind_proxy) -> None:
    person = await _person(behind_proxy)
    # The attacker claims to be the owner, then someone new on every try; none of it counts.
    async with calling_from(behind_proxy, ATTACKER, {"X-Forwarded-For": OWNER}) as attacker:
        for n in range(throttle.PAIR_LIMIT):
            attacker.headers["X-Forwarded-For"] = OWNER if n == 0 else f"192.0.2.{n}"
            assert (await sign_in(attacker, _wrong(person))).status_code == 401
        attacker.headers["X-Forwarded-For"] = "198.51.100.99"
        assert (await sign_in(attacker, person)).status_code == 429
    # Had the header counted, the owner's address would now be locked.
    async with calling_from(behind_proxy, PROXY, {"X-Forwarded-For": OWNER}) as owner:
        assert (await sign_in(owner, person)).status_code == 303


async def test_a_garbled_forwarded_header_is_no_error(behind_proxy) -> None:
    person = await _person(behind_proxy)
    garbled = {"X-Forwarded-For": "unknown, [::1, 999.1.1.1, "}
    async with calling_from(behind_proxy, PROXY, garbled) as caller:
        assert (await sign_in(caller, person)).status_code == 303


# API clients: the token endpoint.


async def test_repeated_bad_secrets_are_refused_with_retry_after(client, unhcr_system) -> None:
    for _ in range(throttle.PAIR_LIMIT):
        assert (await _bad_secret(client, unhcr_system)).status_code == 401
    locked = await _bad_secret(client, unhcr_system)
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert locked.json()["type"] == "/problems/too-many-requests"
    assert int(locked.headers["retry-after"]) >= 1


async def test_a_client_with_its_right_secret_is_never_refused(
    app, client, unhcr_system, guard
) -> None:
    for n in range(6):
        async with calling_from(app, f"203.0.113.{n + 1}") as attacker:
            for _ in range(throttle.PAIR_LIMIT):
                assert (await _bad_secret(attacker, unhcr_system)).status_code == 401
    assert (await _right_secret(client, unhcr_system)).status_code == 200
    # Not even from an address its failures locked: a 256-bit secret cannot be guessed.
    async with calling_from(app, "203.0.113.1") as locked:
        assert (await _bad_secret(locked, unhcr_system)).status_code == 429
        assert (await _right_secret(locked, unhcr_system)).status_code == 200
        assert (await _bad_secret(locked, unhcr_system)).status_code == 401
    assert max(guard.slept) == throttle.MAX_DELAY


async def test_a_refusal_after_the_right_secret_is_no_failure(app, client, agencies) -> None:
    system = await seed_client(app, "unhcr", scopes=["cases:read"])
    for _ in range(throttle.PAIR_LIMIT + 1):
        refused = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "audit:read"},
            auth=(system.client_id, system.client_secret or ""),
        )
        assert refused.json()["error"] == "invalid_scope"
    assert (await _bad_secret(client, system)).status_code == 401


def _assertion(client_id: str, key: ECKey) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jose_jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key, algorithms=["ES256"])


async def _with_assertion(http: httpx.AsyncClient, client_id: str, key: ECKey) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _assertion(client_id, key),
        },
    )


async def test_a_client_with_a_valid_assertion_is_never_refused(
    app, client, agencies, guard
) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    impostor = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    system = await seed_client(
        app,
        "unhcr",
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    for n in range(5):
        async with calling_from(app, f"203.0.113.{n + 1}") as attacker:
            for _ in range(throttle.PAIR_LIMIT):
                refused = await _with_assertion(attacker, system.client_id, impostor)
                assert refused.json()["error"] == "invalid_client"
    assert (await _with_assertion(client, system.client_id, key)).status_code == 200


# The rules themselves.


def test_five_failures_within_the_window_lock_for_fifteen_minutes_from_the_last() -> None:
    policy = throttle.Policy()
    start = utcnow()
    spread = [start + timedelta(minutes=m) for m in (0, 1, 2, 3, 14)]
    assert throttle.pair_locked_until(spread, policy) == spread[-1] + throttle.PAIR_LOCK
    too_slow = [start + timedelta(minutes=m) for m in (0, 1, 2, 3, 15)]
    assert throttle.pair_locked_until(too_slow, policy) is None
    assert throttle.pair_locked_until(spread[:4], policy) is None


def test_the_window_slides_over_failures_in_any_order() -> None:
    policy = throttle.Policy()
    start = utcnow()
    failures = [start + timedelta(minutes=m) for m in (30, 0, 19, 20, 21, 22)]
    assert throttle.pair_locked_until(failures, policy) == failures[0] + throttle.PAIR_LOCK


def test_the_account_delay_grows_a_second_a_failure_after_twenty_and_stops_at_five() -> None:
    policy = throttle.Policy()
    delays = [throttle.account_delay(n, policy) for n in range(19, 28)]
    assert delays == [0, 0, 1, 2, 3, 4, 5, 5, 5]


def test_an_ipv6_caller_is_counted_by_its_slash_64() -> None:
    assert throttle.address_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle.address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert throttle.address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert throttle.address_key(None) == "-"


def test_an_account_is_stored_only_as_a_digest() -> None:
    key = throttle.account_key("user:my-secret-password-typed-as-email")
    assert "secret" not in key
    assert len(key) == 64
