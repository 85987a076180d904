"""Liveness, readiness and metrics: public, cheap, and free of personal data."""

from __future__ import annotations

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from services.db.migrate import current_revisions
from services.db.session import database
from services.errors import ServiceUnavailable
from services.http.routing import api_router

router = api_router(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str
    directory: str


@router.get("/healthz", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="The node can serve: database reachable, schema at the newest migration",
    responses={503: {"description": "Not ready; `detail` says why."}},
)
async def readyz(request: Request) -> Readiness:
    db = database(request)
    expected: frozenset[str] = request.app.state.migration_heads
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(current_revisions)
    except Exception as exc:
        raise ServiceUnavailable(f"The database is not reachable ({type(exc).__name__}).") from exc
    if current != expected:
        raise ServiceUnavailable(
            "The database schema is not at the newest migration "
            f"(at {sorted(current) or 'none'}, expected {sorted(expected)}). Run `accord init`."
        )
    holder = request.app.state.federation.directory
    if holder.configured and holder.current() is None:
        raise ServiceUnavailable(
            f"No verified federation directory is held ({holder.last_error or 'not loaded'})."
        )
    held = holder.current()
    directory = f"version {held.version}" if held else "not configured"
    return Readiness(status="ready", database="ok", migrations="head", directory=directory)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics
    return Response(registry.render(), media_type=registry.content_type)
