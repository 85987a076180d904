"""Several nodes in one process: each its own app and database, reaching the others through an
ASGI transport instead of the network (STYLE: federation logic is tested with several apps in
one process; real uvicorn nodes only for the wire). The test drives every delivery."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from kit.db.base import utcnow
from kit.settings import Settings
from services.app import create_app
from services.federation.models import OutboxChannel
from services.federation.outbox import DeliveryWorker
from tests.support.app import serving
from tests.support.federation import (
    member_entries,
    member_settings,
    new_root_key,
    write_directory,
)
from tests.support.identity import bearer, client_token, seed_client


class _Router(httpx.AsyncBaseTransport):
    """Hands each request to the app whose node URL it is addressed to."""

    def __init__(self) -> None:
        self.apps: dict[str, httpx.ASGITransport] = {}
        #: Hosts that are "down": a request to them fails as a refused connection would.
        self.down: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down or host not in self.apps:
            raise httpx.ConnectError(f"{host} is unreachable", request=request)
        return await self.apps[host].handle_async_request(request)


@dataclass(eq=False)
class Node:
    name: str
    url: str
    app: FastAPI
    client: httpx.AsyncClient
    agencies: list[str]
    entries: list[dict[str, Any]] = field(default_factory=list)

    async def headers(
        self, agency: str, roles: list[str], data_roles: list[str] | None = None
    ) -> dict[str, str]:
        """A bearer token of a new API client of ``agency`` with these roles."""
        system = await seed_client(self.app, agency, roles=roles, data_roles=data_roles)
        return bearer(await client_token(self.client, system))

    async def deliver(self) -> int:
        """One pass of this node's outbox; returns how many messages settled."""
        return await DeliveryWorker(self.app.state.federation).deliver_round()

    async def retry_now(self) -> None:
        """End every channel's backoff, as if its retry were due (the test drives the clock)."""
        async with self.app.state.db.sessions.begin() as session:
            await session.execute(update(OutboxChannel).values(next_attempt_at=utcnow()))


class Nodes:
    """The federation of one test: a root key, a directory file, and the nodes in it."""

    def __init__(
        self,
        database_for: Callable[[str], str],
        tmp_path: Path,
        make_app: Callable[[Settings], FastAPI] = create_app,
    ) -> None:
        self.database_for = database_for
        #: How a node's app is built: ``create_app``, or one the worker keeps (``nodes``).
        self.make_app = make_app
        self.tmp_path = tmp_path
        self.root = new_root_key()
        self.router = _Router()
        self.nodes: dict[str, Node] = {}
        self.version = 0
        self.others: list[dict[str, Any]] = []
        self._stack = contextlib.AsyncExitStack()

    async def add(self, name: str, agencies: list[str]) -> Node:
        url = f"http://{name}.nodes.test"
        app = self.make_app(member_settings(self.database_for(name), self.tmp_path, self.root))
        client = await self._stack.enter_async_context(serving(app, base_url=url))
        federation = app.state.federation
        await federation.http.aclose()
        federation.http = httpx.AsyncClient(transport=self.router)
        self.router.apps[f"{name}.nodes.test"] = httpx.ASGITransport(app=app)
        node = Node(name, url, app, client, agencies)
        node.entries = await member_entries(app, url, agencies)
        self.nodes[name] = node
        return node

    async def publish(self) -> None:
        """Sign a new directory of every node's agencies (and ``others``); every node loads it."""
        self.version += 1
        members = [e for n in self.nodes.values() for e in n.entries] + self.others
        write_directory(self.tmp_path / "directory.json", self.root, members, self.version)
        for node in self.nodes.values():
            await node.app.state.federation.directory.refresh()

    async def settle(self, *, only: list[str] | None = None, rounds: int = 50) -> int:
        """Deliver until no node (or none of ``only``) has anything left that can go."""
        total = 0
        for _ in range(rounds):
            moved = 0
            for node in self.nodes.values():
                if only is None or node.name in only:
                    moved += await node.deliver()
            total += moved
            if not moved:
                return total
        raise AssertionError(f"still delivering after {rounds} rounds")

    async def aclose(self) -> None:
        await self._stack.aclose()
