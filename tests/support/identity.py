"""Seed agencies, people and API clients straight through the services that own them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from auth.clients import service as clients
from auth.clients.schemas import ClientCreate
from auth.scopes import ALL_ROLES, ALL_SCOPES
from auth.users import service as users
from auth.users.schemas import UserCreate
from kit.master_key import load_master_key
from services.agencies import service as agencies
from services.keys import store as agency_keys

BASE_URL = "http://127.0.0.1:8000"
TOKEN_URL = f"{BASE_URL}/oauth/token"


@dataclass(frozen=True)
class SeededClient:
    client_id: str
    client_secret: str | None
    agency: str


@dataclass(frozen=True)
class SeededUser:
    id: str
    email: str
    password: str
    agency: str


async def seed_agency(app: FastAPI, slug: str) -> None:
    """A hosted agency with its keys, as ``accord init`` makes one."""
    master_key = load_master_key(app.state.settings)
    async with app.state.db.sessions.begin() as session:
        await agencies.ensure_hosted(session, slug=slug, name=slug.upper())
        await agency_keys.ensure_keys(session, master_key=master_key, agency=slug)


async def seed_client(
    app: FastAPI,
    agency: str,
    *,
    scopes: list[str] | None = None,
    roles: list[str] | None = None,
    data_roles: list[str] | None = None,
    **config: Any,
) -> SeededClient:
    async with app.state.db.sessions.begin() as session:
        row, secret = await clients.create(
            session,
            agency=agency,
            data=ClientCreate(
                name=f"{agency} test system",
                scopes=sorted(ALL_SCOPES) if scopes is None else scopes,
                roles=sorted(ALL_ROLES) if roles is None else roles,
                data_roles=data_roles or [],
                **config,
            ),
        )
    return SeededClient(client_id=row.client_id, client_secret=secret, agency=agency)


async def seed_user(
    app: FastAPI, agency: str, email: str, *, roles: list[str], data_roles: list[str] | None = None
) -> SeededUser:
    password = "correct horse battery staple"
    async with app.state.db.sessions.begin() as session:
        row, _ = await users.create(
            session,
            agency=agency,
            data=UserCreate(
                email=email,
                display_name=email.split("@")[0],
                roles=roles,
                data_roles=data_roles or [],
                password=password,
            ),
            passwords=app.state.passwords,
        )
    return SeededUser(id=str(row.id), email=email, password=password, agency=agency)


async def client_token(
    http: httpx.AsyncClient, client: SeededClient, scope: str | None = None
) -> str:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    response = await http.post(
        "/oauth/token", data=data, auth=(client.client_id, client.client_secret or "")
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(
    http: httpx.AsyncClient, user: SeededUser, next_path: str = "/console"
) -> httpx.Response:
    """Sign in through the login form, as a browser would: CSRF cookie, hidden field, POST."""
    import re

    page = await http.get("/console/login", params={"next": next_path})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    return await http.post(
        "/console/login",
        data={
            "email": user.email,
            "password": user.password,
            "csrf_token": csrf.group(1),
            "next": next_path,
        },
    )
