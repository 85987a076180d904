"""An admin sees their agency's webhook subscriptions and sends a failed delivery again
(issue 18), through the same service calls as ``/v1/webhooks``: redelivering is audited there.

Subscribing, unsubscribing and rotating secrets stay with the API (``POST /v1/webhooks``):
an agency system does them, and shows its secret to itself, not to a person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from kit.db.repository import MAX_LIMIT
from kit.db.session import Session
from kit.http.state import settings_of
from kit.i18n import N_, gettext
from services.webhooks import repository, service
from services.webhooks.models import Webhook, WebhookDelivery

from .access import ConsoleRequires, Viewer
from .failures import Failure, attempt
from .names import for_viewer
from .render import console_router, page, see_other

router = console_router()

Reader = Annotated[Viewer, ConsoleRequires(scope="webhooks:read", role="admin")]
Writer = Annotated[Viewer, ConsoleRequires(scope="webhooks:write", role="admin")]

DONE = {
    "redeliver": N_("Sent again: the delivery is pending and is retried afresh until it arrives."),
}


@dataclass(frozen=True)
class Subscription:
    """A subscription as the page shows it: with its counts and its failed deliveries."""

    webhook: Webhook
    pending: int
    failed: int
    failures: list[WebhookDelivery]


async def _listing(
    request: Request,
    viewer: Viewer,
    session: Session,
    *,
    failure: Failure | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    found = await repository.page_for(session, viewer.principal, cursor=None, limit=MAX_LIMIT)
    counts = await repository.status_counts(session, found.items)
    subscriptions = []
    for webhook in found.items:
        failed = await repository.deliveries_page(
            session, webhook, status="failed", cursor=None, limit=MAX_LIMIT
        )
        subscriptions.append(
            Subscription(
                webhook=webhook,
                pending=counts[webhook.id].get("pending", 0),
                failed=counts[webhook.id].get("failed", 0),
                failures=list(failed.items),
            )
        )
    return page(
        request,
        viewer,
        "webhooks.html",
        status_code=failure.status if failure else 200,
        title=gettext("Webhooks"),
        subscriptions=subscriptions,
        names=await for_viewer(request, session, viewer),
        failure=failure,
        notice=notice,
    )


@router.get("/console/webhooks")
async def webhooks(
    request: Request, viewer: Reader, session: Session, done: str = ""
) -> HTMLResponse:
    return await _listing(
        request, viewer, session, notice=gettext(DONE[done]) if done in DONE else None
    )


@router.post("/console/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    viewer: Writer,
    session: Session,
) -> Response:
    retry_for = timedelta(hours=settings_of(request).webhook_retry_hours)
    done = await attempt(
        session,
        lambda: service.redeliver(
            session,
            principal=viewer.principal,
            webhook_id=webhook_id,
            delivery_id=delivery_id,
            retry_for=retry_for,
        ),
    )
    if isinstance(done, Failure):
        return await _listing(request, viewer, session, failure=done)
    return see_other("/console/webhooks?done=redeliver")
