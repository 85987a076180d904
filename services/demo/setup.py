"""Setting up the joint programme across running nodes, through their public API only:
people and systems for every agency, the multilateral agreement signed by every party, and
the avrr-joint programme at UNHCR. Used by ``accord demo`` and the federation tests."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from accord_client import AccordClient, ClientSecret
from auth.scopes import ALL_SCOPES

from .scenarios import (
    BINDINGS,
    ENFORCEMENT_BINDINGS,
    ENFORCEMENT_SOP,
    JOINT_SOP,
    OWNER,
    PEOPLE_DATA_ROLES,
    Agency,
    Driver,
    Timeline,
    agreement_terms,
    enforcement_terms,
)


@dataclass(frozen=True)
class Hosted:
    """An agency on a running node, with the admin API client ``accord init`` printed."""

    agency: str
    url: str
    client_id: str
    client_secret: str


@dataclass
class Prepared:
    driver: Driver
    programme_id: str
    agreement_id: str
    valid_until: str
    logins: list[dict[str, str]] = field(default_factory=list)
    clients: list[dict[str, str]] = field(default_factory=list)
    #: ``joint`` (UNHCR's) and, where the host authority is hosted, ``enforcement`` (its own).
    programmes: dict[str, str] = field(default_factory=dict)


async def token(http: httpx.AsyncClient, url: str, client_id: str, secret: str) -> dict[str, str]:
    response = await http.post(
        f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"{response.status_code} {response.text[:400]}"
        )
    return response.json()


async def _system(
    http: httpx.AsyncClient, hosted: Hosted, admin: dict[str, str], roles: list[str]
) -> tuple[AccordClient, dict[str, str]]:
    """A new agency system with ``roles``, and the client it drives the node with."""
    created = await _ok(
        await http.post(
            f"{hosted.url}/v1/clients",
            headers=admin,
            json={
                "name": f"{hosted.agency} {' and '.join(roles)} system",
                "scopes": sorted(ALL_SCOPES),
                "roles": roles,
                "data_roles": PEOPLE_DATA_ROLES,
            },
        )
    )
    system = AccordClient(
        hosted.url, ClientSecret(created["client_id"], created["client_secret"]), http=http
    )
    return system, {
        "agency": hosted.agency,
        "client_id": created["client_id"],
        "client_secret": created["client_secret"],
    }


async def _person(
    http: httpx.AsyncClient, hosted: Hosted, admin: dict[str, str], role: str, password: str
) -> dict[str, str]:
    email = f"{role.replace('_', '-')}@{hosted.agency}.demo"
    await _ok(
        await http.post(
            f"{hosted.url}/v1/users",
            headers=admin,
            json={
                "email": email,
                "display_name": f"{hosted.agency.upper()} {role.replace('_', ' ')}",
                "roles": [role],
                "data_roles": PEOPLE_DATA_ROLES,
                "password": password,
            },
        )
    )
    return {"agency": hosted.agency, "role": role, "email": email, "password": password}


async def prepare(
    http: httpx.AsyncClient,
    hosted: list[Hosted],
    *,
    timeline: Timeline | None = None,
    people: bool = True,
    tick: Callable[[], Awaitable[None]] | None = None,
    patience: float = 60.0,
    enforcement: bool = True,
) -> Prepared:
    say = timeline or (lambda _who, _stage, _what: None)
    by_agency = {h.agency: h for h in hosted}
    admins = {h.agency: await token(http, h.url, h.client_id, h.client_secret) for h in hosted}
    agencies: dict[str, Agency] = {}
    logins: list[dict[str, str]] = []
    clients: list[dict[str, str]] = []
    for h in hosted:
        worker, worker_client = await _system(http, h, admins[h.agency], ["caseworker"])
        focal, focal_client = await _system(http, h, admins[h.agency], ["focal_point"])
        agencies[h.agency] = Agency(slug=h.agency, url=h.url, worker=worker, focal_point=focal)
        clients += [worker_client, focal_client]
        if people:
            password = secrets.token_urlsafe(9)
            for role in ("focal_point", "admin", "auditor", "caseworker"):
                logins.append(await _person(http, h, admins[h.agency], role, password))
    say("setup", "people", f"{len(clients)} API clients, {len(logins)} console users")

    now = datetime.now(UTC).replace(microsecond=0)
    valid_until = (now + timedelta(days=365)).isoformat()
    valid_from = (now - timedelta(days=1)).isoformat()

    async def agree(terms: dict[str, Any]) -> str:
        """Draft, propose and have every party sign; the agreement's id once it is active."""
        drafter = terms["parties"][0]
        url = by_agency[drafter].url
        drafted = await _ok(
            await http.post(f"{url}/v1/agreements", json=terms, headers=admins[drafter])
        )
        agreement_id = str(drafted["id"])
        proposed = await _ok(
            await http.post(f"{url}/v1/agreements/{agreement_id}/propose", headers=admins[drafter])
        )
        digest = proposed["digest"]
        say("setup", "agreement", f"{terms['title']}: proposed to {len(terms['parties'])}")
        for party in terms["parties"]:
            node = by_agency[party]
            await _until(
                http,
                f"{node.url}/v1/agreements/{agreement_id}",
                admins[party],
                lambda body: body.get("digest") == digest,
                patience,
            )
            await _ok(
                await http.post(
                    f"{node.url}/v1/agreements/{agreement_id}/sign",
                    json={"digest": digest},
                    headers=admins[party],
                )
            )
        await _until(
            http,
            f"{url}/v1/agreements/{agreement_id}",
            admins[drafter],
            lambda body: body.get("status") == "active",
            patience,
        )
        say("setup", "agreement", f"{terms['title']}: signed by every party")
        return agreement_id

    async def run(owner: str, title: str, sop: str, bindings: Any, agreement_id: str) -> str:
        programme = await _ok(
            await http.post(
                f"{by_agency[owner].url}/v1/programmes",
                headers=admins[owner],
                json={
                    "title": title,
                    "sop": sop,
                    "bindings": bindings,
                    "agreements": [agreement_id],
                },
            )
        )
        say("setup", "programme", f"{sop} runs at {owner}")
        return str(programme["id"])

    agreement_id = await agree(agreement_terms(valid_from, valid_until))
    programmes = {
        "joint": await run(OWNER, "Joint AVRR and solutions", JOINT_SOP, BINDINGS, agreement_id)
    }
    if enforcement and ENFORCEMENT_BINDINGS["host_authority"] in by_agency:
        under = await agree(enforcement_terms(valid_from, valid_until))
        programmes["enforcement"] = await run(
            ENFORCEMENT_BINDINGS["host_authority"],
            "Enforcement of return orders",
            ENFORCEMENT_SOP,
            ENFORCEMENT_BINDINGS,
            under,
        )
    driver = Driver(http, agencies, timeline=timeline, timeout=patience, tick=tick)
    return Prepared(
        driver=driver,
        programme_id=programmes["joint"],
        agreement_id=agreement_id,
        valid_until=valid_until,
        logins=logins,
        clients=clients,
        programmes=programmes,
    )


async def _until(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], check: Any, patience: float
) -> None:
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        response = await http.get(url, headers=headers)
        if response.status_code == 200 and check(response.json()):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"timed out waiting on {url}")
        await asyncio.sleep(0.1)
