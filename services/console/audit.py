"""Auditors read the audit timeline with filters, see whether their agency's chain verifies,
and follow the erasure receipts still owed to their agency (DESIGN §6, §8)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse

from kit.db.repository import MAX_LIMIT
from kit.db.session import Session
from kit.http.state import master_key_of
from services.audit import endpoints as api
from services.referrals import endpoints as referrals_api
from services.referrals import erasure as referral_erasure

from .access import ConsoleRequires, Viewer
from .failures import Failure
from .names import for_viewer
from .render import console_router, page

router = console_router()

Auditor = Annotated[Viewer, ConsoleRequires(scope="audit:read", role="auditor")]
Overseer = Annotated[Viewer, ConsoleRequires(scope="referrals:read", role=("admin", "auditor"))]


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _day(text: str, *, end: bool = False) -> datetime | None:
    try:
        day = datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None
    except ValueError:
        return None
    if day is not None and end:
        day = day.replace(hour=23, minute=59, second=59)
    return day


@router.get("/console/audit")
async def audit(
    request: Request,
    viewer: Auditor,
    session: Session,
    action: str = "",
    referral_id: str = "",
    case_id: str = "",
    since: str = "",
    until: str = "",
    break_glass: str = "",
    cursor: str = "",
) -> HTMLResponse:
    faults = [
        (name, "is not an id")
        for name, value in (("referral_id", referral_id), ("case_id", case_id))
        if value and _uuid(value) is None
    ] + [
        (name, "is not a date (YYYY-MM-DD)")
        for name, value in (("since", since), ("until", until))
        if value and _day(value) is None
    ]
    filters = {
        "action": action,
        "referral_id": referral_id,
        "case_id": case_id,
        "since": since,
        "until": until,
        "break_glass": break_glass,
    }
    items, next_cursor, failure = [], None, None
    if faults:
        failure = Failure(
            422, "Some filters need fixing", f"{len(faults)} filter(s) need fixing.", [], faults
        )
    else:
        found = await api.list_events(
            principal=viewer.principal,
            session=session,
            case_id=_uuid(case_id),
            referral_id=_uuid(referral_id),
            actor=None,
            action=action.strip() or None,
            break_glass=True if break_glass == "yes" else None,
            since=_day(since),
            until=_day(until, end=True),
            cursor=cursor or None,
            limit=50,
        )
        items, next_cursor = found.items, found.next_cursor
    # Auditors read people, not ids: the agency's own users and clients by name, id on hover.
    names = await for_viewer(request, session, viewer)
    chain = await api.verify_chain(
        principal=viewer.principal, session=session, master_key=master_key_of(request)
    )
    return page(
        request,
        viewer,
        "audit.html",
        status_code=failure.status if failure else 200,
        title="Audit",
        items=items,
        next_cursor=next_cursor,
        filters=filters,
        chain=chain,
        names=names,
        failure=failure,
    )


@router.get("/console/erasures")
async def erasures(request: Request, viewer: Overseer, session: Session) -> HTMLResponse:
    found = await referral_erasure.erasures(
        session, principal=viewer.principal, state=None, cursor=None, limit=MAX_LIMIT
    )
    rows = [referrals_api.erasure_item(r) for r in found.items]
    outstanding = [r for r in rows if r.state != "confirmed"]
    confirmed = [r for r in rows if r.state == "confirmed"]
    return page(
        request,
        viewer,
        "erasures.html",
        title="Erasures",
        outstanding=outstanding,
        confirmed=confirmed,
    )
