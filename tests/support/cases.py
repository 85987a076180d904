"""Cases and consents for tests: bodies a caseworker would send, and seeding through services."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from auth.principal import Principal
from auth.scopes import ALL_SCOPES
from services.cases import service as cases
from services.consents import service as consents
from tests.support.identity import bearer, client_token, seed_agency, seed_client


def system_principal(
    agency: str, *, roles: set[str] | None = None, data_roles: set[str] | None = None
) -> Principal:
    """A principal as an agency system holding it would resolve to, for seeding via services."""
    return Principal(
        agency=agency,
        kind="client",
        subject=f"{agency}-seed",
        client_id=f"{agency}-seed",
        roles=frozenset(roles or {"caseworker"}),
        data_roles=frozenset(data_roles or set()),
        scopes=ALL_SCOPES,
        token_id="seed",
    )


def adult_case_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": f"DE-2026-{uuid.uuid4().hex[:8]}",
        "profile": {
            "date_of_birth": "1990-05-02",
            "nationality": "SRB",
            "country_of_origin": "SRB",
            "trafficking_victim": True,
            "years_in_host_country": 6.5,
        },
        "data": {
            "identity": {
                "names": {"given_names": "Amina", "family_name": "Haddad"},
                "date_of_birth": "1990-05-02",
                "sex": "female",
                "nationality": "SRB",
                "languages": ["sr-Latn", "de"],
            },
            "skills": {"languages": [{"language": "de", "level": "B2"}]},
        },
    }
    body.update(changes)
    return body


def child_case_body(**changes: Any) -> dict[str, Any]:
    return adult_case_body(
        profile={"date_of_birth": "2011-03-14", "unaccompanied": True, "nationality": "XKX"},
        data={"identity": {"date_of_birth": "2011-03-14", "nationality": "XKX"}},
        **changes,
    )


PROTECTION = {
    "risk_assessments": [
        {
            "conducted_on": "2026-02-10",
            "risk_level": "high",
            "risks": ["reprisal_by_traffickers", "threat_from_state_officials"],
        }
    ],
    "confidential_account": "Recruited by a cousin's employer in Belgrade; passport taken.",
}

HEALTH = {"conditions": [{"description": "Type 1 diabetes", "chronic": True}]}

CHILD_VIEWS = {
    "position": "partly_agrees",
    "summary": "Wants to see his mother again but is afraid of the people he owes money to.",
    "heard_on": "2026-02-27",
    "heard_by": "case manager, Jugendamt Berlin-Mitte",
    "language": "sq",
    "interpreter_used": True,
}


def consent_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purposes": ["avrr-counselling"],
        "recipients": ["iom", "ilo"],
        "categories": ["identity", "contact", "skills"],
        "given_by": "self",
        "method": "written",
        "valid_until": (datetime.now(UTC) + timedelta(days=180)).isoformat(),
        "evidence_ref": "form AVRR-C1, file 2026/114",
    }
    body.update(changes)
    return body


async def seed_case(app: FastAPI, agency: str, body: dict[str, Any] | None = None) -> str:
    async with app.state.db.sessions.begin() as session:
        case = await cases.create(
            session,
            principal=system_principal(agency),
            master_key=app.state.master_key,
            body=body if body is not None else adult_case_body(),
        )
    return str(case.id)


async def seed_consent(app: FastAPI, agency: str, case_id: str, **changes: Any) -> str:
    async with app.state.db.sessions.begin() as session:
        view = await consents.give_consent(
            session,
            principal=system_principal(agency),
            case_id=uuid.UUID(case_id),
            master_key=app.state.master_key,
            body=consent_body(**changes),
        )
    return str(view.consent.id)


async def seed_agencies(app: FastAPI) -> None:
    """Two agencies sharing one node: the setting where tenancy matters most."""
    for slug in ("unhcr", "iom"):
        await seed_agency(app, slug)


# --- HTTP callers ---------------------------------------------------------------------------

CallerFactory = Callable[..., Awaitable[dict[str, str]]]


def caller_factory(app: FastAPI, http: httpx.AsyncClient) -> CallerFactory:
    """``await caller(roles=..., data_roles=...)`` gives the headers of a fresh agency system."""

    async def make(
        *,
        agency: str = "unhcr",
        roles: tuple[str, ...] = ("caseworker",),
        data_roles: tuple[str, ...] = (),
        scopes: tuple[str, ...] = ("cases:read", "cases:write"),
    ) -> dict[str, str]:
        system = await seed_client(
            app, agency, scopes=list(scopes), roles=list(roles), data_roles=list(data_roles)
        )
        return bearer(await client_token(http, system))

    return make


async def raw_rows(app: FastAPI, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` as the app's database holds it, bypassing the application's
    models (and seeing what the test wrote, on its connection, even before it is committed)."""
    async with app.state.db.connect() as connection:
        result = await connection.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
        return [dict(row._mapping) for row in result]


def holds_in_clear(rows: list[dict[str, Any]], needle: str) -> bool:
    """Whether ``needle`` appears in any column of ``rows``, as text or as UTF-8 bytes."""
    for row in rows:
        for value in row.values():
            if isinstance(value, bytes | memoryview):
                if needle.encode() in bytes(value):
                    return True
            elif needle in json.dumps(value, default=str):
                return True
    return False
