from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kit.db.base import utcnow
from kit.settings import Settings
from services.webhooks.worker import WebhookWorker
from tests.support.federation import join, member_settings
from tests.support.identity import BASE_URL
from tests.support.referrals import ROOT, Exchange, exchange, person


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # The feed's settle window is tested on its own; here events are served at once.
    return member_settings(database_url, tmp_path, ROOT, event_feed_settle_seconds=0)


@pytest.fixture
async def ex(app, client, tmp_path: Path) -> Exchange:
    return await exchange(app, client, tmp_path)


@dataclass
class Received:
    path: str
    server: tuple[str, int] | None
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An agency system's webhook endpoint, in process: it answers ``status`` and records
    every request it gets (``requests``) and those it acknowledged (``received``)."""

    status: int = 204
    requests: list[Received] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = Received(
            path=scope["path"],
            server=scope.get("server"),
            headers={k.decode(): v.decode() for k, v in scope["headers"]},
            body=body,
        )
        self.requests.append(request)
        if 200 <= self.status < 300:
            self.received.append(request)
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@dataclass
class Clock:
    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver)) as client:
        yield client


@pytest.fixture
def worker(app: FastAPI, client, http: httpx.AsyncClient, clock: Clock) -> WebhookWorker:
    """The node's webhook worker, delivering into ``receiver`` on ``clock``'s time."""
    return WebhookWorker(
        app.state.db,
        app.state.master_key,
        app.state.settings,
        metrics=app.state.metrics,
        http=http,
        clock=clock,
    )


async def run(worker: WebhookWorker) -> int:
    """Steps until a step does nothing."""
    total = 0
    while done := await worker.step():
        total += done
    return total


#: For tests whose SQL is the same on both backends (the dialect-specific claims, ON CONFLICT
#: and id ranges are covered on both by the lifecycle and late-commit tests).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
async def admin(app: FastAPI, client: httpx.AsyncClient) -> dict[str, str]:
    """Bearer headers of an UNHCR admin system (every scope): enough where no referral is."""
    await join(app, Path(app.state.settings.directory), ROOT, BASE_URL, ["unhcr", "iom"])
    return await person(app, client, "unhcr", ["admin"])
