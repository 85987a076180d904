"""``create_app(settings)``: the one way to get a node, in production and in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.db.migrate import head_revisions
from services.db.session import Database
from services.health import endpoints as health
from services.health import problem_catalogue
from services.http.middleware import RequestContextMiddleware
from services.http.problems import install_problem_handlers
from services.observability.logging import configure_logging
from services.observability.metrics import HttpMetrics
from services.settings import Settings

API_DESCRIPTION = """\
Accord moves referrals about a person between agencies only with the person's consent, only
under a data-sharing agreement every party signed, sealed so that only the receiving agency can
open them. Every error is an RFC 9457 problem document; its `type` is served under `/problems`.
"""


def create_app(settings: Settings) -> FastAPI:
    """Build a node. Nothing touches the database or key material until the lifespan starts."""
    configure_logging(level=settings.log_level, json=settings.log_json)
    metrics = HttpMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database.open(settings)
        app.state.migration_heads = head_revisions()
        try:
            yield
        finally:
            await app.state.db.close()

    app = FastAPI(
        title="Accord node",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_problem_handlers(app)
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes
    )
    app.include_router(health.router)
    app.include_router(problem_catalogue.router)
    return app
