"""``/v1/events``: an agency's event log as a resumable feed (DESIGN §10)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import Query

from auth.dependencies import Requires
from auth.principal import Principal
from kit.db.base import utcnow
from kit.db.session import ReadSession
from kit.errors import ValidationFailed
from kit.http.paging import DEFAULT_LIMIT, Limit
from kit.http.routing import api_router
from kit.http.state import SettingsDep

from . import repository
from .schemas import EventOut, EventPage
from .types import KNOWN

router = api_router(prefix="/v1/events", tags=["events"])

Reader = Annotated[Principal, Requires(scope="events:read", role=("admin", "auditor"))]


@router.get(
    "",
    responses={
        422: {"description": "`after` is not an event id, or `types` names an unknown type"}
    },
    summary="Your agency's events after a cursor, oldest first",
)
async def list_events(
    principal: Reader,
    session: ReadSession,
    settings: SettingsDep,
    after: Annotated[
        str | None,
        Query(
            max_length=64,
            description="`next_cursor` of the previous page (an event id); omit to start at "
            "the oldest event kept.",
        ),
    ] = None,
    types: Annotated[
        str | None,
        Query(max_length=2000, description="Comma-separated event types, e.g. `referral.sent`."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> EventPage:
    """The caller's agency's events strictly after ``after``, oldest first.

    Resumable from any cursor: an event is served once it is a few seconds old
    (``ACCORD_EVENT_FEED_SETTLE_SECONDS``), so one whose transaction committed late still
    lands after every cursor already handed out. Events are kept at least 30 days.
    """
    cursor = _cursor(after)
    wanted = _types(types)
    rows = await repository.of_agency(
        session,
        agency=principal.agency,
        after=cursor,
        types=wanted,
        limit=limit,
        before=utcnow() - timedelta(seconds=settings.event_feed_settle_seconds),
    )
    items = [
        EventOut(id=str(row.id), type=row.type, timestamp=row.timestamp, data=row.data)
        for row in rows
    ]
    return EventPage(items=items, next_cursor=items[-1].id if items else after, limit=limit)


def _cursor(after: str | None) -> uuid.UUID | None:
    if after is None:
        return None
    try:
        return uuid.UUID(after)
    except ValueError:
        raise _invalid(
            "after", "`after` must be an event id: the `next_cursor` of a page of this feed."
        ) from None


def _types(types: str | None) -> list[str]:
    wanted = [t.strip() for t in (types or "").split(",") if t.strip()]
    unknown = sorted(set(wanted) - KNOWN)
    if unknown:
        raise _invalid(
            "types",
            "`types` names an event type this node does not know; the OpenAPI document's "
            "`webhooks` section lists every type.",
        )
    return wanted


def _invalid(parameter: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message,
        extra={"errors": [{"location": f"query.{parameter}", "message": message, "type": "value"}]},
    )
