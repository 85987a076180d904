"""``create_app(settings)``: the one way to get a node, in production and in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as SyncSession
from starlette.middleware.gzip import GZipMiddleware

from auth import login
from auth.clients import endpoints as clients
from auth.dependencies import idempotency_caller
from auth.keys import TokenKeyHolder, TokenKeys, ensure_token_key, load_token_keys
from auth.oauth import endpoints as oauth
from auth.openapi import document_roles
from auth.passwords import Passwords
from auth.throttle import Throttle
from auth.users import endpoints as users
from kit import i18n
from kit.db.migrate import head_revisions
from kit.db.session import Database
from kit.http import idempotency
from kit.http.conditional import ConditionalGet
from kit.http.language import LanguageMiddleware
from kit.http.middleware import RequestContextMiddleware
from kit.http.openapi import install_openapi, operation_id
from kit.http.problems import install_problem_handlers
from kit.http.security_headers import ConsoleSecurityHeaders
from kit.master_key import load_master_key
from kit.observability.gc_pauses import freeze_startup_objects
from kit.observability.logging import configure_logging, get_logger
from kit.observability.metrics import HttpMetrics
from kit.settings import Settings
from services.agreements import endpoints as agreements
from services.agreements import messages as agreement_messages
from services.agreements import service as agreements_service
from services.api_docs import endpoints as api_docs
from services.audit import endpoints as audit
from services.audit.worker import Checkpointer
from services.cases import endpoints as cases
from services.consents import endpoints as consents
from services.consents import service as consents_service
from services.console import assets as console_assets
from services.console.endpoints import ROUTERS as CONSOLE_ROUTERS
from services.events import endpoints as events
from services.federation import endpoints as federation_endpoints
from services.federation.inbox import Handler
from services.federation.ping import PING, handle_ping
from services.federation.runtime import Federation
from services.health import endpoints as health
from services.health import problem_catalogue
from services.households import endpoints as households
from services.households import listeners as household_listeners
from services.journeys import endpoints as journeys
from services.journeys import listeners as journey_listeners
from services.journeys import service as journeys_service
from services.programmes import endpoints as programmes
from services.referrals import endpoints as referrals
from services.referrals import erasure as referral_erasure
from services.referrals import messages as referral_messages
from services.referrals.sweeper import Sweeper
from services.sops import endpoints as sops
from services.sops.verification import Verifier
from services.webhooks import endpoints as webhooks
from services.webhooks.openapi import document_webhooks
from services.webhooks.worker import WebhookWorker

log = get_logger("accord.app")

API_DESCRIPTION = """\
Accord moves referrals about a person between agencies only with the person's consent, only
under a data-sharing agreement every party signed, sealed so that only the receiving agency can
open them. Every error is an RFC 9457 problem document; its `type` is served under `/problems`.

Every operation names the OAuth2 scope it needs (`security`) and the roles (its description);
every list is a page, newest first: pass `next_cursor` back as `cursor` for the next one.
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
    keys = idempotency.Idempotency(
        ttl=timedelta(seconds=settings.idempotency_key_ttl_seconds),
        lease=timedelta(seconds=settings.idempotency_claim_lease_seconds),
        metrics=idempotency.IdempotencyMetrics(metrics.registry),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        master_key = load_master_key(settings)
        # Loaded once: whatever unwraps a data key, signs or seals for an agency reads it here.
        app.state.master_key = master_key
        db = database if database is not None else Database.open(settings)
        app.state.db = db
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

        # Listeners are declared where they live; erasure first, then the journey's withdrawal;
        # at approval the journey's runtime guard first, then family unity.
        for subscriptions in (
            referral_erasure.SUBSCRIPTIONS,
            journey_listeners.SUBSCRIPTIONS,
            household_listeners.SUBSCRIPTIONS,
        ):
            for name, listener in subscriptions.items():
                federation.events.subscribe(name, partial(listener, federation=federation))
        sweeper = Sweeper(
            federation,
            settings.referral_sweep_seconds,
            [partial(journeys_service.report_overdue, db), partial(keys.sweep, db)],
        )
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
        # Webhook deliveries, driven by the event log (services.webhooks.worker).
        webhook_worker = WebhookWorker(db, master_key, settings, metrics=metrics)
        app.state.webhooks = webhook_worker
        if settings.background_workers:
            checkpointer.start()
            sweeper.start()
            webhook_worker.start()
        # Every catalogue compiled now (once per process), not in some person's first request.
        i18n.load_catalogues()
        freeze_startup_objects()
        try:
            yield
        finally:
            await webhook_worker.stop()
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
        generate_unique_id_function=operation_id,
        # /docs signs in people with the authorization-code flow, which needs PKCE here.
        swagger_ui_init_oauth={"usePkceWithAuthorizationCodeGrant": True},
        # Served by services.api_docs with the node's own copies of their assets, no CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.throttle = Throttle()
    app.state.idempotency = keys
    app.state.passwords = Passwords.from_settings(settings)
    install_problem_handlers(app)
    document_webhooks(app)
    install_openapi(app, hooks=[document_roles, idempotency.document])
    # Innermost: it keeps and replays the plain answer (compression comes after it), and the
    # body limit and request id of RequestContextMiddleware apply before it reads a body.
    app.add_middleware(
        idempotency.IdempotencyMiddleware, idempotency=keys, identify=idempotency_caller
    )
    app.add_middleware(ConsoleSecurityHeaders, prefixes=("/console", "/oauth/authorize"))
    # For poor links (issue 17): above 1 KB, to a client that accepts it; streams, images and
    # bodies already encoded are left alone. Level 6 is zlib's default: most of level 9's
    # saving for much less CPU per response. Console pages stay safe to compress because
    # their CSRF tokens are masked per response (``auth.csrf``, BREACH).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    # Outside compression: the ETag is of the bytes sent, one per encoding.
    app.add_middleware(ConditionalGet, prefixes=("/v1/",))
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        # The federation endpoint enforces its own limit, so a refusal is recorded for admins.
        own_limit_prefixes=("/federation/",),
    )
    # Outermost: every response, the last-resort 500 too, is written in the request's language.
    app.add_middleware(LanguageMiddleware)
    app.include_router(health.router)
    app.include_router(api_docs.router)
    app.include_router(problem_catalogue.router)
    app.include_router(oauth.router)
    app.include_router(login.router)
    app.include_router(users.router)
    app.include_router(clients.router)
    app.include_router(federation_endpoints.router)
    app.include_router(agreements.router)
    app.include_router(referrals.erasures_router)
    app.include_router(referrals.router)
    app.include_router(sops.router)
    app.include_router(programmes.router)
    app.include_router(journeys.router)
    app.include_router(audit.router)
    app.include_router(cases.router)
    app.include_router(households.router)
    app.include_router(consents.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(console_assets.router)
    for console_router in CONSOLE_ROUTERS:
        app.include_router(console_router)
    return app
