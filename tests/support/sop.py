"""The demo federation in one process: every agency hosted on one node, the joint agreement
signed by all, the avrr-joint programme at UNHCR, and the scenario driver wired to it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.db.base import utcnow
from services.demo.scenarios import (
    BINDINGS,
    OWNER,
    PEOPLE_DATA_ROLES,
    Agency,
    Driver,
    agreement_terms,
)
from services.federation.outbox import DeliveryWorker
from tests.support.federation import join, new_root_key
from tests.support.identity import BASE_URL, bearer, client_token, seed_client

ROOT = new_root_key()
AGENCIES = sorted({OWNER, *BINDINGS.values()})


async def person(
    app: FastAPI, client: httpx.AsyncClient, agency: str, roles: list[str]
) -> dict[str, str]:
    system = await seed_client(app, agency, roles=roles, data_roles=PEOPLE_DATA_ROLES)
    return bearer(await client_token(client, system))


async def federation(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> dict[str, Any]:
    await join(app, tmp_path / "directory.json", ROOT, BASE_URL, AGENCIES)
    admins = {a: await person(app, client, a, ["admin"]) for a in AGENCIES}
    now = utcnow().replace(microsecond=0)
    valid_until = (now + timedelta(days=365)).isoformat()
    terms = agreement_terms((now - timedelta(days=1)).isoformat(), valid_until)
    drafted = await client.post("/v1/agreements", json=terms, headers=admins[OWNER])
    assert drafted.status_code == 201, drafted.text
    agreement_id = drafted.json()["id"]
    digest = (
        await client.post(f"/v1/agreements/{agreement_id}/propose", headers=admins[OWNER])
    ).json()["digest"]
    for agency in AGENCIES:
        signed = await client.post(
            f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}, headers=admins[agency]
        )
        assert signed.status_code == 200, signed.text
    programme = await client.post(
        "/v1/programmes",
        headers=admins[OWNER],
        json={
            "title": "Joint AVRR",
            "sop": "avrr-joint@1.0.0",
            "bindings": BINDINGS,
            "agreements": [agreement_id],
        },
    )
    assert programme.status_code == 201, programme.text
    agencies = {
        a: Agency(
            slug=a,
            url=BASE_URL,
            worker=await person(app, client, a, ["caseworker"]),
            focal_point=await person(app, client, a, ["focal_point"]),
        )
        for a in AGENCIES
    }

    async def tick() -> None:
        await DeliveryWorker(app.state.federation).deliver_round()

    driver = Driver(client, agencies, tick=tick, timeout=30)
    return {
        "driver": driver,
        "programme_id": programme.json()["id"],
        "agreement_id": agreement_id,
        "valid_until": valid_until,
        "admins": admins,
    }
