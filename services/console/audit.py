"""Auditors read the audit timeline with filters, see whether their agency's chain verifies,
and follow the erasure receipts still owed to their agency (DESIGN §6, §8)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Request
from fastapi.responses import HTMLResponse

from kit.db.repository import MAX_LIMIT
from kit.db.session import Session
from kit.http.state import master_key_of
from kit.i18n import N_, gettext, ngettext
from services.audit import endpoints as api
from services.audit import repository as audit_rows
from services.audit.schemas import AuditEventOut
from services.referrals import endpoints as referrals_api
from services.referrals import erasure as referral_erasure

from .access import ConsoleRequires, Viewer
from .failures import Failure
from .names import for_viewer
from .render import console_router, page

router = console_router()

Auditor = Annotated[Viewer, ConsoleRequires(scope="audit:read", role="auditor")]
Overseer = Annotated[Viewer, ConsoleRequires(scope="referrals:read", role=("admin", "auditor"))]


#: The shortest end of an id the filters take: the eight characters the pages show.
SHOWN = 8
_ID_PART = re.compile(r"[0-9a-f-]+")


def _id_filter(text: str) -> tuple[str | None, str | None] | None:
    """A referral or case filter as typed: ``(whole id, None)``, ``(None, how it ends)``, or
    ``None`` if it names no id. Takes what the pages show: a whole id, its last eight or more
    characters, and either after a word such as "referral" or "outgoing", copied with it."""
    words = text.split()
    if not words:
        return None, None
    last = words[-1].lower()
    try:
        return str(uuid.UUID(last)), None
    except ValueError:
        pass
    if len(last) >= SHOWN and _ID_PART.fullmatch(last):
        return None, last
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
    ids = {"referral_id": _id_filter(referral_id), "case_id": _id_filter(case_id)}
    faults = [
        (
            name,
            gettext("is not an id: give the whole id or its last %(num)d characters, as shown")
            % {"num": SHOWN},
        )
        for name, found in ids.items()
        if found is None
    ] + [
        (name, gettext("is not a date (YYYY-MM-DD)"))
        for name, value in (("since", since), ("until", until))
        if value and _day(value) is None
    ]
    start, end = _day(since), _day(until)
    if not faults and start is not None and end is not None and start > end:
        faults.append(("until", gettext("is before From")))
    filters = {
        "action": action,
        "referral_id": referral_id,
        "case_id": case_id,
        "since": since,
        "until": until,
        "break_glass": break_glass,
    }
    items: list[AuditEventOut] = []
    next_cursor, failure = None, None
    if faults:
        failure = Failure(
            422,
            N_("Some filters need fixing"),
            ngettext("%(num)d filter needs fixing.", "%(num)d filters need fixing.", len(faults))
            % {"num": len(faults)},
            [],
            faults,
        )
    else:
        (case_whole, case_end), (referral_whole, referral_end) = (
            ids["case_id"] or (None, None),
            ids["referral_id"] or (None, None),
        )
        # The API's filter takes whole ids only; the console also takes the ends it shows, so
        # it asks the repository (the same agency-bound query) directly.
        where = audit_rows.EventFilter(
            case_id=case_whole,
            referral_id=referral_whole,
            case_id_ending=case_end,
            referral_id_ending=referral_end,
            action=action.strip() or None,
            break_glass=True if break_glass == "yes" else None,
            since=_day(since),
            until=_day(until, end=True),
        )
        found = await audit_rows.page_for(
            session, viewer.principal, where, cursor=cursor or None, limit=50
        )
        items = [AuditEventOut.model_validate(event) for event in found.items]
        next_cursor = found.next_cursor
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
        title=gettext("Audit"),
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
        title=gettext("Erasures"),
        outstanding=outstanding,
        confirmed=confirmed,
        names=await for_viewer(request, session, viewer),
    )
