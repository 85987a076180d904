"""Focal points' work: what waits for them, a referral in full, approve, accept, decline and
break-glass, each behind a confirmation step (DESIGN §8).

Every action calls the referral service exactly as ``/v1/referrals`` does, with the person as
principal: the four-eyes rule, the policy decision and the state machine are the API's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from contracts.agreements import break_glass_allowed
from contracts.referrals import ReferralStatus
from kit.db.base import utcnow
from kit.db.repository import MAX_LIMIT
from kit.db.session import Session
from kit.i18n import N_, gettext
from services.federation.runtime import FederationDep, federation_of
from services.journeys import repository as journey_rows
from services.referrals import endpoints as api
from services.referrals import service
from services.referrals.models import Referral
from services.referrals.schemas import BreakGlassRequest, DeclineRequest

from . import about
from .access import ConsoleRequires, Viewer
from .failures import Failure, attempt
from .names import Names, for_viewer
from .navigation import landing
from .programmes import stage_titles
from .render import console_router, page, see_other

router = console_router()

WORKERS = ("caseworker", "focal_point")
Anyone = Annotated[
    Viewer,
    ConsoleRequires(scope="referrals:read", role=("admin", "auditor", *WORKERS)),
]
Reader = Annotated[Viewer, ConsoleRequires(scope="referrals:read", role=(*WORKERS, "auditor"))]
Approver = Annotated[Viewer, ConsoleRequires(scope="referrals:approve", role="focal_point")]
FocalPoint = Annotated[Viewer, ConsoleRequires(scope="referrals:write", role="focal_point")]

#: What the page says after an action succeeded; looked up by name, never echoed from the URL.
DONE = {
    "approve": N_("Approved. The referral is on its way to the recipient's node."),
    "accept": N_("Accepted. The sender has been told."),
    "decline": N_("Declined. The sender has been told, with your reason."),
    "break-glass": N_("Opened under break-glass. The access and your reason are in the audit log."),
}
ACTIONS = {
    "approve": (N_("Approve"), N_("Approve and send this referral?")),
    "accept": (N_("Accept"), N_("Accept this referral for your agency?")),
    "decline": (N_("Decline"), N_("Decline this referral?")),
    "break-glass": (
        N_("Open under break-glass"),
        N_("Open a withheld category under break-glass?"),
    ),
}


#: Whose deadline ``respond_by`` is, as the reader of each side says it.
DEADLINE_OWNER = {
    "outgoing": N_("the recipient's deadline to answer"),
    "incoming": N_("your deadline to answer"),
}


async def _waiting(
    session: Session, viewer: Viewer, direction: Literal["incoming", "outgoing"], status: str
) -> list[Referral]:
    rows = await service.page(
        session,
        principal=viewer.principal,
        direction=direction,
        status=status,
        stage=None,
        cursor=None,
        limit=MAX_LIMIT,
    )
    return sorted(
        rows.items,
        key=lambda r: (r.respond_by is None, r.respond_by or r.created_at),
    )


async def _people(
    request: Request, session: Session, viewer: Viewer, rows: list[Referral]
) -> dict[str, about.Person]:
    return await about.people_of(
        session, federation=federation_of(request), principal=viewer.principal, rows=rows
    )


@router.get("/console")
async def home(request: Request, viewer: Anyone, session: Session) -> Response:
    if not viewer.has_role(*WORKERS):
        return see_other(landing(viewer))
    to_approve = (
        await _waiting(session, viewer, "outgoing", ReferralStatus.PENDING_APPROVAL)
        if viewer.has_role("focal_point")
        else []
    )
    to_accept = (
        await _waiting(session, viewer, "incoming", ReferralStatus.RECEIVED)
        if viewer.has_role("focal_point")
        else []
    )
    drafted = (
        await _waiting(session, viewer, "outgoing", ReferralStatus.PENDING_APPROVAL)
        if not viewer.has_role("focal_point")
        else []
    )
    people = await _people(request, session, viewer, [*to_approve, *to_accept, *drafted])
    now = utcnow()
    waiting = await journey_rows.waiting_for(session, agency=viewer.principal.agency, now=now)
    titles = await stage_titles(session, agency=viewer.agency, journeys=waiting)
    journeys = [
        {
            "id": j.id,
            "stage": j.stage,
            "stage_title": titles.get(j.id, j.stage),
            "due_at": j.due_at,
            "overdue": j.due_at is not None and j.due_at < now,
            "reasons": [b.get("message", "") for b in j.blocked or []],
        }
        for j in waiting
    ]
    return page(
        request,
        viewer,
        "home.html",
        title=gettext("Waiting for me"),
        to_approve=[api.summary(r) for r in to_approve],
        to_accept=[api.summary(r) for r in to_accept],
        drafted=[api.summary(r) for r in drafted] if not viewer.has_role("focal_point") else [],
        journeys=journeys,
        people=people,
        names=await for_viewer(request, session, viewer),
    )


@router.get("/console/referrals")
async def referrals(
    request: Request,
    viewer: Reader,
    session: Session,
    direction: str = "",
    status: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    chosen_direction: Literal["incoming", "outgoing"] | None = (
        "incoming" if direction == "incoming" else "outgoing" if direction == "outgoing" else None
    )
    chosen_status = status if status in {s.value for s in ReferralStatus} else None
    found = await service.page(
        session,
        principal=viewer.principal,
        direction=chosen_direction,
        status=chosen_status,
        stage=None,
        cursor=cursor or None,
        limit=50,
    )
    return page(
        request,
        viewer,
        "referrals.html",
        title=gettext("Referrals"),
        items=[api.summary(r) for r in found.items],
        people=await _people(request, session, viewer, found.items),
        names=await for_viewer(request, session, viewer),
        next_cursor=found.next_cursor,
        direction=chosen_direction or "",
        status=chosen_status or "",
        statuses=[s.value for s in ReferralStatus],
    )


async def _detail_page(
    request: Request,
    viewer: Viewer,
    session: Session,
    referral_id: str,
    *,
    status: int = 200,
    failure: Failure | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    view = await service.read(
        session,
        federation=federation_of(request),
        principal=viewer.principal,
        referral_id=referral_id,
    )
    row = view.row
    referral = api.view_of(view)
    agreement = await service.agreement_of(
        session, agreement_id=row.agreement_id, version=row.agreement_version
    )
    focal = viewer.has_role("focal_point")
    incoming = referral.direction == "incoming"
    names = await for_viewer(request, session, viewer)
    shown = await _about(request, viewer, session, view, names)
    can = {
        "approve": focal and not incoming and referral.status == ReferralStatus.PENDING_APPROVAL,
        "accept": focal and incoming and referral.status == ReferralStatus.RECEIVED,
        "decline": focal and incoming and referral.status == ReferralStatus.RECEIVED,
        "break-glass": focal
        and incoming
        and bool(referral.withheld)
        and break_glass_allowed(agreement.terms),
    }
    return page(
        request,
        viewer,
        "referral.html",
        status_code=status,
        title=(
            gettext("Referral to %(agency)s")
            if not incoming
            else gettext("Referral from %(agency)s")
        )
        % {"agency": names.name_of(referral.counterpart)},
        referral=referral,
        names=names,
        **shown,
        agreement_title=agreement.terms.title,
        can=can,
        failure=failure,
        notice=notice,
    )


@router.get("/console/referrals/{referral_id}")
async def referral(
    request: Request, referral_id: str, viewer: Reader, session: Session, done: str = ""
) -> HTMLResponse:
    return await _detail_page(
        request, viewer, session, referral_id, notice=gettext(DONE[done]) if done in DONE else None
    )


async def _about(
    request: Request, viewer: Viewer, session: Session, view: service.ReferralView, names: Names
) -> dict[str, Any]:
    """Who the referral is about, what it sends, to whom and whose deadline: for the page and
    for each confirmation step (issue 17), as far as the reader's data roles allow."""
    row = view.row
    if row.direction == "outgoing":
        person, sent = await about.outgoing(
            session,
            principal=viewer.principal,
            master_key=federation_of(request).master_key,
            row=row,
            categories=row.categories,
        )
    else:
        person, sent = about.incoming(view, names.name_of(row.counterpart))
    return {
        "summary": api.summary(row),
        "person": person,
        "sent": sent,
        "deadline_owner": gettext(DEADLINE_OWNER[row.direction]),
    }


async def _confirm(
    request: Request,
    viewer: Viewer,
    session: Session,
    referral_id: str,
    action: str,
    *,
    status: int = 200,
    failure: Failure | None = None,
    reason: str = "",
    category: str = "",
    categories: list[str] | None = None,
) -> HTMLResponse:
    button, question = (gettext(said) for said in ACTIONS[action])
    view = await service.read(
        session,
        federation=federation_of(request),
        principal=viewer.principal,
        referral_id=referral_id,
    )
    names = await for_viewer(request, session, viewer)
    shown = await _about(request, viewer, session, view, names)
    return page(
        request,
        viewer,
        "confirm.html",
        status_code=status,
        title=question,
        question=question,
        button=button,
        action_name=action,
        action=f"/console/referrals/{referral_id}/{action}",
        back=f"/console/referrals/{referral_id}",
        needs_reason=action in ("decline", "break-glass"),
        reason=reason,
        category=category,
        categories=categories or [],
        failure=failure,
        names=names,
        **shown,
    )


async def _act(
    request: Request,
    viewer: Viewer,
    session: Session,
    referral_id: str,
    action: str,
    run: Any,
    **form: Any,
) -> Response:
    failure = await attempt(session, run)
    if isinstance(failure, Failure):
        return await _confirm(
            request,
            viewer,
            session,
            referral_id,
            action,
            status=failure.status,
            failure=failure,
            **form,
        )
    return see_other(f"/console/referrals/{referral_id}?done={action}")


@router.post("/console/referrals/{referral_id}/approve")
async def approve(
    request: Request,
    referral_id: str,
    viewer: Approver,
    session: Session,
    federation: FederationDep,
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    if confirmed != "yes":
        return await _confirm(request, viewer, session, referral_id, "approve")

    async def run() -> None:
        await service.approve(
            session, federation=federation, principal=viewer.principal, referral_id=referral_id
        )

    return await _act(request, viewer, session, referral_id, "approve", run)


@router.post("/console/referrals/{referral_id}/accept")
async def accept(
    request: Request,
    referral_id: str,
    viewer: FocalPoint,
    session: Session,
    federation: FederationDep,
    confirmed: Annotated[str, Form()] = "",
) -> Response:
    if confirmed != "yes":
        return await _confirm(request, viewer, session, referral_id, "accept")

    async def run() -> None:
        await service.accept(
            session, federation=federation, principal=viewer.principal, referral_id=referral_id
        )

    return await _act(request, viewer, session, referral_id, "accept", run)


@router.post("/console/referrals/{referral_id}/decline")
async def decline(
    request: Request,
    referral_id: str,
    viewer: FocalPoint,
    session: Session,
    federation: FederationDep,
    confirmed: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    if confirmed != "yes":
        return await _confirm(request, viewer, session, referral_id, "decline", reason=reason)

    async def run() -> None:
        checked = DeclineRequest(reason=reason.strip())
        await service.decline(
            session,
            federation=federation,
            principal=viewer.principal,
            referral_id=referral_id,
            reason=checked.reason,
        )

    return await _act(request, viewer, session, referral_id, "decline", run, reason=reason)


@router.post("/console/referrals/{referral_id}/break-glass")
async def break_glass(
    request: Request,
    referral_id: str,
    viewer: FocalPoint,
    session: Session,
    federation: FederationDep,
    confirmed: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    view = await service.read(
        session, federation=federation, principal=viewer.principal, referral_id=referral_id
    )
    choices = [w["category"] for w in view.withheld if w["category"]]
    if confirmed != "yes":
        return await _confirm(
            request,
            viewer,
            session,
            referral_id,
            "break-glass",
            reason=reason,
            category=category,
            categories=choices,
        )

    async def run() -> None:
        checked = BreakGlassRequest.model_validate({"category": category, "reason": reason.strip()})
        await service.break_glass(
            session,
            federation=federation,
            principal=viewer.principal,
            referral_id=referral_id,
            category=checked.category.value,
            reason=checked.reason,
        )

    return await _act(
        request,
        viewer,
        session,
        referral_id,
        "break-glass",
        run,
        reason=reason,
        category=category,
        categories=choices,
    )
