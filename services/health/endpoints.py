"""Liveness, readiness and metrics: public, cheap, and free of personal data."""

from __future__ import annotations

import secrets
from typing import Literal

from fastapi import Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from kit.db.migrate import current_revisions
from kit.db.session import database
from kit.errors import Forbidden, ServiceUnavailable
from kit.http.client_address import client_address, parse_address
from kit.http.routing import api_router
from kit.http.state import MetricsDep, MigrationHeads, SettingsDep
from kit.settings import Settings
from services.federation.runtime import FederationDep

router = api_router(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """Only ever ready: a node that is not answers 503 with a problem saying why."""

    status: Literal["ready"]
    database: Literal["ok"]
    migrations: Literal["head"]
    directory: str = Field(description="`version N`, or `not configured`.")


@router.get("/healthz", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The node can serve: database reachable, schema at the newest migration",
    responses={503: {"description": "Not ready; `detail` says why."}},
)
async def readyz(
    request: Request, expected: MigrationHeads, federation: FederationDep
) -> Readiness:
    db = database(request)
    try:
        async with db.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(current_revisions)
    except Exception as exc:
        raise ServiceUnavailable(f"The database is not reachable ({type(exc).__name__}).") from exc
    if current != expected:
        raise ServiceUnavailable(
            "The database schema is not at the newest migration "
            f"(at {sorted(current) or 'none'}, expected {sorted(expected)}). Run `accord init`."
        )
    holder = federation.directory
    if holder.configured and holder.current() is None:
        raise ServiceUnavailable(
            f"No verified federation directory is held ({holder.last_error or 'not loaded'})."
        )
    held = holder.current()
    directory = f"version {held.version}" if held else "not configured"
    return Readiness(status="ready", database="ok", migrations="head", directory=directory)


class MetricsForbidden(Forbidden):
    slug = "metrics-forbidden"
    title = "Metrics are not served to this address"
    explanation = (
        "/metrics answers the addresses in ACCORD_METRICS_ALLOWED (loopback by default), or a "
        "request with `Authorization: Bearer` and the token in ACCORD_METRICS_TOKEN."
    )


def metrics_allowed(settings: Settings, address: str | None, authorization: str | None) -> bool:
    """Whether a scrape may read the metrics: from an allowed network, or with the token."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    if token and authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(presented.strip(), token):
            return True
    ip = parse_address(address)
    return ip is not None and any(
        ip.version == network.version and ip in network for network in settings.metrics_allowed
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (loopback, ACCORD_METRICS_ALLOWED, or ACCORD_METRICS_TOKEN)",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        403: {"description": "Not an allowed address, and no valid token"},
    },
)
async def metrics(request: Request, settings: SettingsDep, registry: MetricsDep) -> Response:
    # The client's address, not the peer's: behind a proxy on this host every request would
    # otherwise come from loopback.
    address = client_address(request)
    if not metrics_allowed(settings, address, request.headers.get("authorization")):
        raise MetricsForbidden("Metrics are served to ACCORD_METRICS_ALLOWED or with a token.")
    return Response(registry.render(), media_type=registry.content_type)
