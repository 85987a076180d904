"""A node where UNHCR refers to IOM: agreement signed by both, a case, a consent, and the
people of each agency with the roles each step needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.cases import service as cases
from services.federation.outbox import DeliveryWorker
from tests.support.agreements import terms
from tests.support.cases import PROTECTION, adult_case_body, seed_consent, system_principal
from tests.support.federation import join, new_root_key
from tests.support.identity import BASE_URL, bearer, client_token, seed_client

ROOT = new_root_key()
CATEGORIES = ["identity", "contact", "specific_needs"]


def case_with_everything() -> dict[str, Any]:
    body = adult_case_body()
    body["data"].update(
        {
            "contact": {"email": "a.h@example.org", "safe_to_contact": True},
            "specific_needs": {"needs_escort": True},
            "protection": PROTECTION,
        }
    )
    return body


@dataclass
class Exchange:
    app: FastAPI
    client: httpx.AsyncClient
    agreement_id: str
    case_id: str
    consent_id: str
    people: dict[str, dict[str, str]]

    async def deliver(self) -> int:
        """Run the outbox until nothing is left to deliver: both agencies are on this node."""
        total = 0
        while delivered := await DeliveryWorker(self.app.state.federation).deliver_round():
            total += delivered
        return total

    def body(self, **changes: Any) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "to_agency": "iom",
            "purpose": "avrr-counselling",
            "agreement_id": self.agreement_id,
            "consent_id": self.consent_id,
            "categories": CATEGORIES,
            "note": "Speaks Serbian; prefers a woman counsellor.",
            **changes,
        }

    async def draft(self, **changes: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/referrals", json=self.body(**changes), headers=self.people["unhcr_caseworker"]
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def sent(self, **changes: Any) -> dict[str, Any]:
        draft = await self.draft(**changes)
        approved = await self.client.post(
            f"/v1/referrals/{draft['id']}/approve", headers=self.people["unhcr_focal_point"]
        )
        assert approved.status_code == 200, approved.text
        await self.deliver()
        return draft


async def person(
    app: FastAPI,
    client: httpx.AsyncClient,
    agency: str,
    roles: list[str],
    data_roles: list[str] | None = None,
) -> dict[str, str]:
    system = await seed_client(app, agency, roles=roles, data_roles=data_roles)
    return bearer(await client_token(client, system))


async def exchange(
    app: FastAPI,
    client: httpx.AsyncClient,
    tmp_path: Path,
    *,
    legal_basis: str = "consent",
    others: list[dict[str, Any]] | None = None,
    **agreement: Any,
) -> Exchange:
    """``others``: directory entries of agencies on other nodes (``ForeignAgency.member()``)."""
    await join(
        app, tmp_path / "directory.json", ROOT, BASE_URL, ["unhcr", "iom", "ilo"], others=others
    )
    admins = {a: await person(app, client, a, ["admin"]) for a in ("unhcr", "iom")}
    body = terms(["unhcr", "iom"], legal_basis=legal_basis, **agreement)
    drafted = (await client.post("/v1/agreements", json=body, headers=admins["unhcr"])).json()
    digest = (
        await client.post(f"/v1/agreements/{drafted['id']}/propose", headers=admins["unhcr"])
    ).json()["digest"]
    for agency in ("unhcr", "iom"):
        signed = await client.post(
            f"/v1/agreements/{drafted['id']}/sign", json={"digest": digest}, headers=admins[agency]
        )
        assert signed.status_code == 200, signed.text
    async with app.state.db.sessions.begin() as session:
        case = await cases.create(
            session,
            principal=system_principal("unhcr", data_roles={"protection_officer"}),
            master_key=app.state.master_key,
            body=case_with_everything(),
        )
    case_id = str(case.id)
    consent_id = await seed_consent(
        app,
        "unhcr",
        case_id,
        recipients=["iom"],
        purposes=["avrr-counselling"],
        categories=[*CATEGORIES, "protection"],
    )
    people = {
        "unhcr_caseworker": await person(app, client, "unhcr", ["caseworker"]),
        "unhcr_focal_point": await person(app, client, "unhcr", ["focal_point"]),
        "unhcr_admin": admins["unhcr"],
        "iom_focal_point": await person(app, client, "iom", ["focal_point"]),
        "iom_counsellor": await person(app, client, "iom", ["caseworker"], ["counsellor"]),
        "iom_protection": await person(app, client, "iom", ["caseworker"], ["protection_officer"]),
    }
    return Exchange(app, client, drafted["id"], case_id, consent_id, people)
