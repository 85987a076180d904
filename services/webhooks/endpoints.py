"""``/v1/webhooks``: an agency's systems subscribe to its events (DESIGN §8, §10)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Query, Response

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.session import ReadSession, Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from kit.http.state import MasterKey, SettingsDep

from . import repository, service
from .models import Webhook
from .schemas import (
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    WebhookCreate,
    WebhookOut,
    WebhookPage,
    WebhookWithSecret,
)

router = api_router(prefix="/v1/webhooks", tags=["webhooks"])

Reader = Annotated[Principal, Requires(scope="webhooks:read", role="admin")]
Writer = Annotated[Principal, Requires(scope="webhooks:write", role="admin")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such webhook (or delivery) at your agency"}
}


def _out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=webhook.id,
        agency=webhook.agency,
        url=webhook.url,
        event_types=webhook.event_types,
        created_at=webhook.created_at,
        previous_secret_until=webhook.previous_until
        if webhook.previous_secret_wrapped is not None
        else None,
    )


def _with_secret(webhook: Webhook, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**_out(webhook).model_dump(), secret=secret)


@router.post(
    "",
    status_code=201,
    responses={422: {"description": "URL not allowed, or an unknown event type"}},
    summary="Subscribe a URL to event types; the signing secret is shown only here",
)
async def create_webhook(
    body: WebhookCreate,
    principal: Writer,
    session: Session,
    master_key: MasterKey,
    settings: SettingsDep,
    response: Response,
) -> WebhookWithSecret:
    """Deliveries follow Standard Webhooks: `webhook-id` (the delivery's id, the same on every
    retry), `webhook-timestamp`, `webhook-signature` (`v1,<base64 HMAC-SHA256>` keyed with the
    secret). The body is the event: `{"type", "timestamp", "data"}`. Outside a dev node the URL
    must be https and resolve to public addresses only."""
    webhook, secret = await service.create(
        session,
        principal=principal,
        master_key=master_key,
        url=body.url,
        event_types=body.event_types,
        dev=settings.env == "dev",
    )
    response.headers["Cache-Control"] = "no-store"
    return _with_secret(webhook, secret)


@router.get("", summary="Your agency's webhooks, newest first (never their secrets)")
async def list_webhooks(
    principal: Reader, session: ReadSession, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> WebhookPage:
    page = await repository.page_for(session, principal, cursor=cursor, limit=limit)
    return WebhookPage(
        items=[_out(w) for w in page.items], next_cursor=page.next_cursor, limit=limit
    )


@router.delete(
    "/{webhook_id}",
    status_code=204,
    responses=_NOT_FOUND,
    summary="Unsubscribe: nothing more is sent, pending deliveries are cancelled",
)
async def delete_webhook(webhook_id: uuid.UUID, principal: Writer, session: Session) -> Response:
    await service.delete(session, principal=principal, webhook_id=webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    responses=_NOT_FOUND,
    summary="A new signing secret, shown only here; the old one also signs for 24 hours",
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID,
    principal: Writer,
    session: Session,
    master_key: MasterKey,
    settings: SettingsDep,
    response: Response,
) -> WebhookWithSecret:
    """Until `previous_secret_until`, every delivery carries two signatures (space-separated,
    as Standard Webhooks allows): one with the new secret and one with the old, so the
    receiver can switch to the new secret at any moment in between."""
    webhook, secret = await service.rotate(
        session,
        principal=principal,
        master_key=master_key,
        webhook_id=webhook_id,
        overlap=timedelta(hours=settings.webhook_secret_overlap_hours),
    )
    response.headers["Cache-Control"] = "no-store"
    return _with_secret(webhook, secret)


@router.get(
    "/{webhook_id}/deliveries",
    responses=_NOT_FOUND,
    summary="A webhook's deliveries, newest first, e.g. the failed ones",
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    principal: Reader,
    session: ReadSession,
    status: Annotated[DeliveryStatus | None, Query(description="Only these.")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> DeliveryPage:
    webhook = await service.get(session, principal=principal, webhook_id=webhook_id)
    page = await repository.deliveries_page(
        session, webhook, status=status, cursor=cursor, limit=limit
    )
    return DeliveryPage(
        items=[DeliveryOut.model_validate(d) for d in page.items],
        next_cursor=page.next_cursor,
        limit=limit,
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    responses={
        **_NOT_FOUND,
        409: {"description": "The delivery is still being attempted (`current_status`)"},
    },
    summary="Send a failed delivery again (same `webhook-id`), retried afresh for 24 hours",
)
async def redeliver_webhook_delivery(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: Writer,
    session: Session,
    settings: SettingsDep,
) -> DeliveryOut:
    delivery = await service.redeliver(
        session,
        principal=principal,
        webhook_id=webhook_id,
        delivery_id=delivery_id,
        retry_for=timedelta(hours=settings.webhook_retry_hours),
    )
    return DeliveryOut.model_validate(delivery)
