"""``create_app(settings)``: the one way to get a node, in production and in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from auth import login
from auth.clients import endpoints as clients
from auth.keys import TokenKeyHolder, TokenKeys, ensure_token_key, load_token_keys
from auth.oauth import endpoints as oauth
from auth.passwords import Passwords
from auth.throttle import Throttle
from auth.users import endpoints as users
from kit.db.migrate import head_revisions
from kit.db.session import Database
from kit.http.middleware import RequestContextMiddleware
from kit.http.problems import install_problem_handlers
from kit.http.security_headers import ConsoleSecurityHeaders
from kit.master_key import load_master_key
from kit.observability.logging import configure_logging, get_logger
from kit.observability.metrics import HttpMetrics
from kit.settings import Settings
from services.agreements import endpoints as agreements
from services.agreements import messages as agreement_messages
from services.agreements import service as agreements_service
from services.audit import endpoints as audit
from services.audit.worker import Checkpointer
from services.cases import endpoints as cases
from services.consents import endpoints as consents
from services.consents import service as consents_service
from services.consents.cascade import WITHDRAWN, Withdrawal
from services.console import assets as console_assets
from services.console.endpoints import ROUTERS as CONSOLE_ROUTERS
from services.federation import endpoints as federation_endpoints
from services.federation.inbox import Handler
from services.federation.ping import PING, handle_ping
from services.federation.runtime import Federation
from services.health import endpoints as health
from services.health import problem_catalogue
from services.journeys import endpoints as journeys
from services.journeys import service as journeys_service
from services.journeys.verification import Verifier
from services.referrals import endpoints as referrals
from services.referrals import erasure as referral_erasure
from services.referrals import messages as referral_messages
from services.referrals.messages import COMPLETED_EVENT, Completed
from services.referrals.sweeper import Sweeper

log = get_logger("accord.app")

API_DESCRIPTION = """\
Accord moves referrals about a person between agencies only with the person's consent, only
under a data-sharing agreement every party signed, sealed so that only the receiving agency can
open them. Every error is an RFC 9457 problem document; its `type` is served under `/problems`.
"""


def message_handlers() -> dict[str, Handler]:
    """Every message type this node accepts, and what receiving one does."""
    return {PING: handle_ping, **agreement_messages.HANDLERS, **referral_messages.HANDLERS}


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """Build a node. Nothing touches the database or key material until the lifespan starts.

    ``database``: one the caller opened and will close (the tests bind one to a transaction
    they roll back); by default the lifespan opens the node's own from ``settings`` and closes
    it at shutdown.
    """
    configure_logging(level=settings.log_level, json=settings.log_json)
    metrics = HttpMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        master_key = load_master_key(settings)
        # Loaded once: services unwrap per-case data keys with it on every request that reads.
        app.state.master_key = master_key
        db = database if database is not None else Database.open(settings)
        app.state.db = db
        # Loaded once: whatever signs or seals for an agency reads it from here.
        app.state.master_key = master_key
        app.state.migration_heads = head_revisions()

        def ensure_and_load(session: SyncSession) -> TokenKeys:
            # Two workers starting at once may each add a key; both are valid and published,
            # and the newest signs, so the race is harmless.
            ensure_token_key(session, master_key)
            return load_token_keys(session, master_key)

        async def load_keys() -> TokenKeys:
            async with db.sessions.begin() as session:
                return await session.run_sync(ensure_and_load)

        app.state.token_keys = TokenKeyHolder(load_keys)
        federation = Federation.open(
            settings,
            db,
            master_key,
            message_handlers(),
            gates=[agreements_service.agreement_gate, consents_service.consent_gate],
            settled_hooks=referral_messages.SETTLED,
        )

        async def withdrawn(session: AsyncSession, withdrawal: Withdrawal) -> None:
            await referral_erasure.on_withdrawn(
                session,
                federation,
                principal=withdrawal.principal,
                consent=withdrawal.consent,
                at=withdrawal.at,
            )

        async def journey_withdrawn(session: AsyncSession, withdrawal: Withdrawal) -> None:
            if withdrawal.consent.case_id is not None:
                await journeys_service.on_consent_withdrawn(
                    session, federation, withdrawal.principal, withdrawal.consent.case_id
                )

        async def referral_completed(session: AsyncSession, done: Completed) -> None:
            await journeys_service.on_referral_completed(
                session, federation, done.row, done.results
            )

        federation.events.subscribe(WITHDRAWN, withdrawn)
        federation.events.subscribe(WITHDRAWN, journey_withdrawn)
        federation.events.subscribe(COMPLETED_EVENT, referral_completed)

        async def journeys_overdue(now: datetime) -> int:
            return await journeys_service.report_overdue(db, now)

        sweeper = Sweeper(federation, settings.referral_sweep_seconds, [journeys_overdue])
        app.state.federation = federation
        verifier = Verifier()
        app.state.sop_verifier = verifier
        try:
            await app.state.token_keys.refresh(force=True)
        except (SQLAlchemyError, OSError):
            # Not migrated yet: /readyz says so, and keys are made on first use after `init`.
            log.warning("token_keys_unavailable")
        await federation.start()
        checkpointer = Checkpointer(db, master_key, settings)
        app.state.checkpointer = checkpointer
        app.state.sweeper = sweeper
        if settings.background_workers:
            checkpointer.start()
            sweeper.start()
        try:
            yield
        finally:
            await sweeper.stop()
            await checkpointer.stop()
            await federation.stop()
            await asyncio.to_thread(verifier.close)
            if database is None:
                await db.close()

    app = FastAPI(
        title="Accord node",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.throttle = Throttle()
    app.state.passwords = Passwords.from_settings(settings)
    install_problem_handlers(app)
    app.add_middleware(ConsoleSecurityHeaders, prefixes=("/console", "/oauth/authorize"))
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        # The federation endpoint enforces its own limit, so a refusal is recorded for admins.
        own_limit_prefixes=("/federation/",),
    )
    app.include_router(health.router)
    app.include_router(problem_catalogue.router)
    app.include_router(oauth.router)
    app.include_router(login.router)
    app.include_router(users.router)
    app.include_router(clients.router)
    app.include_router(federation_endpoints.router)
    app.include_router(agreements.router)
    app.include_router(referrals.erasures_router)
    app.include_router(referrals.router)
    app.include_router(journeys.router)
    app.include_router(audit.router)
    app.include_router(cases.router)
    app.include_router(consents.router)
    app.include_router(console_assets.router)
    for console_router in CONSOLE_ROUTERS:
        app.include_router(console_router)
    return app
