"""Guessing secrets or passwords slows down exponentially, per account and per address."""

from __future__ import annotations

from datetime import timedelta

from auth import throttle
from services.db.base import utcnow
from tests.support.identity import seed_user, sign_in


async def _bad_token_request(client, system):
    return await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(system.client_id, "wrong-secret"),
    )


async def test_repeated_bad_secrets_lock_the_client_with_retry_after(client, unhcr_system) -> None:
    for _ in range(throttle.FREE_FAILURES):
        assert (await _bad_token_request(client, unhcr_system)).status_code == 401
    locked = await _bad_token_request(client, unhcr_system)
    assert locked.status_code == 429
    assert locked.headers["content-type"] == "application/problem+json"
    assert int(locked.headers["retry-after"]) >= 1
    # Even the right secret waits out the lock: the attacker cannot tell when they hit it.
    right = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(unhcr_system.client_id, unhcr_system.client_secret),
    )
    assert right.status_code == 429


async def test_repeated_bad_passwords_lock_the_sign_in(app, client, agencies) -> None:
    person = await seed_user(app, "unhcr", "fp@unhcr.example", roles=["focal_point"])
    wrong = type(person)(id=person.id, email=person.email, password="guess", agency="unhcr")
    for _ in range(throttle.FREE_FAILURES):
        assert (await sign_in(client, wrong)).status_code == 401
    locked = await sign_in(client, person)
    assert locked.status_code == 429
    assert "Try again in" in locked.text


def test_backoff_doubles_and_is_capped(app_sync_session) -> None:
    now = utcnow()
    keys = ["account:client:x"]
    waits = []
    for n in range(1, 20):
        throttle.record_failure(app_sync_session, keys, now)
        row = app_sync_session.get(throttle.AuthThrottle, keys[0])
        waits.append(None if row.locked_until is None else row.locked_until - now)
        if n < throttle.FREE_FAILURES:
            assert waits[-1] is None
    locks = [w for w in waits if w is not None]
    assert locks[0] == timedelta(seconds=1)
    assert locks[1] == timedelta(seconds=2)
    assert locks[2] == timedelta(seconds=4)
    assert max(locks) == throttle.MAX_LOCK
    throttle.record_success(app_sync_session, keys[0])
    throttle.check(app_sync_session, keys, now)  # cleared: does not raise
