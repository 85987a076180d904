"""``GET /v1/events``: an agency's events as a feed a system can poll and resume from any
cursor, oldest first, never another agency's (DESIGN §10)."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from kit.db.base import utcnow
from kit.settings import Settings
from services.events import repository as event_rows
from services.events.models import Event
from services.webhooks.worker import WebhookWorker
from tests.support.app import serving
from tests.support.federation import join, member_settings
from tests.support.identity import BASE_URL
from tests.support.referrals import ROOT, person


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return member_settings(database_url, tmp_path, ROOT, event_feed_settle_seconds=0)


def _made_at(moment) -> uuid.UUID:
    """A UUIDv7 of ``moment``, as ``new_id()`` would have made it then."""
    return uuid.UUID(int=event_rows.id_floor(moment).int | (7 << 76) | random.getrandbits(62))


async def _seed(app, agency: str, n: int, *, start=None) -> list[str]:
    start = start or utcnow() - timedelta(minutes=10)
    ids = []
    async with app.state.db.sessions.begin() as session:
        for i in range(n):
            at = start + timedelta(seconds=i)
            event = Event(
                id=_made_at(at),
                agency=agency,
                type="consent.given" if i % 2 == 0 else "consent.withdrawn",
                timestamp=at,
                data={"consent_id": f"{agency}-{i}"},
            )
            await event_rows.add(session, event)
            ids.append(str(event.id))
    return ids


@pytest.fixture
async def headers(app, client: httpx.AsyncClient, tmp_path: Path) -> dict[str, dict[str, str]]:
    await join(app, tmp_path / "directory.json", ROOT, BASE_URL, ["unhcr", "iom"])
    return {
        "unhcr": await person(app, client, "unhcr", ["auditor"]),
        "iom": await person(app, client, "iom", ["admin"]),
    }


async def _all(client: httpx.AsyncClient, headers: dict[str, str], **params) -> list[dict]:
    items, after = [], params.pop("after", None)
    while True:
        page = await client.get(
            "/v1/events", params={**params, **({"after": after} if after else {})}, headers=headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        if not body["items"]:
            assert body["next_cursor"] == after, "an empty page hands the cursor back"
            return items
        items.extend(body["items"])
        assert body["next_cursor"] == body["items"][-1]["id"]
        after = body["next_cursor"]


async def test_the_feed_resumes_from_any_cursor_and_never_shows_another_agencys_events(
    app, client: httpx.AsyncClient, headers
):
    ours = await _seed(app, "unhcr", 7)
    theirs = await _seed(app, "iom", 5)

    everything = await _all(client, headers["unhcr"], limit=3)
    assert [e["id"] for e in everything] == ours, "oldest first, all of them, once"
    assert everything[0]["data"] == {"consent_id": "unhcr-0"}
    assert set(everything[0]) == {"id", "type", "timestamp", "data"}
    for k, cursor in enumerate(ours):
        tail = await _all(client, headers["unhcr"], after=cursor, limit=2)
        assert [e["id"] for e in tail] == ours[k + 1 :]
    # A cursor from the other agency's feed is only a position: it shows nothing of theirs.
    from_theirs = await _all(client, headers["unhcr"], after=theirs[2])
    assert {e["id"] for e in from_theirs} <= set(ours)
    assert [e["id"] for e in await _all(client, headers["iom"])] == theirs

    withdrawn = await _all(client, headers["unhcr"], types="consent.withdrawn")
    assert [e["id"] for e in withdrawn] == ours[1::2]

    # A poller at the end keeps its place, and sees what comes next.
    end = await client.get("/v1/events", params={"after": ours[-1]}, headers=headers["unhcr"])
    assert end.json() == {"items": [], "next_cursor": ours[-1], "limit": 50}
    more = await _seed(app, "unhcr", 1, start=utcnow() - timedelta(seconds=5))
    assert [e["id"] for e in await _all(client, headers["unhcr"], after=ours[-1])] == more


async def test_an_invalid_cursor_or_type_is_a_problem_in_words(client: httpx.AsyncClient, headers):
    for params, location in (
        ({"after": "yesterday"}, "query.after"),
        ({"types": "referral.sent,referral.teleported"}, "query.types"),
        ({"limit": "0"}, "query.limit"),
    ):
        response = await client.get("/v1/events", params=params, headers=headers["unhcr"])
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["errors"][0]["location"] == location
        assert "teleported" not in problem["detail"]
        assert "yesterday" not in problem["detail"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_event_is_served_once_it_has_settled(app, client, make_app, headers, settings):
    """An event younger than the settle window waits: a transaction that appended an older
    one and commits a moment later cannot slip it behind a cursor already handed out."""
    [fresh] = await _seed(app, "unhcr", 1, start=utcnow())
    settled_app = make_app(settings.model_copy(update={"event_feed_settle_seconds": 60}))
    async with serving(settled_app) as settled:
        page = await settled.get("/v1/events", headers=headers["unhcr"])
    assert page.json()["items"] == []
    assert page.json()["next_cursor"] is None
    assert [e["id"] for e in await _all(client, headers["unhcr"])] == [fresh], "no window"


def test_events_are_kept_at_least_30_days() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 30"):
        Settings(event_retention_days=29, _env_file=None)  # type: ignore[call-arg]
    assert Settings(_env_file=None).event_retention_days >= 30  # type: ignore[call-arg]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_pruning_keeps_the_retention_period(app, client, headers, settings: Settings):
    now = utcnow()
    days = settings.event_retention_days
    [old] = await _seed(app, "unhcr", 1, start=now - timedelta(days=days, hours=1))
    [kept] = await _seed(app, "unhcr", 1, start=now - timedelta(days=days - 1))

    pruned = await WebhookWorker(
        app.state.db, app.state.master_key, settings, clock=lambda: now
    ).prune()

    assert pruned == 1
    assert [e["id"] for e in await _all(client, headers["unhcr"])] == [kept]
    assert old != kept
