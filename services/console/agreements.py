"""Admins' agreements: the list, one agreement in full with its signatures verified, a draft
form that reports every fault next to its field, and propose, sign and suspend (DESIGN §5)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from contracts.agreements import AgreementStatus, LegalBasis
from kit.db.repository import MAX_LIMIT
from kit.db.session import Session
from services.agreements import endpoints as api
from services.agreements import service
from services.federation.runtime import federation_of

from .access import ConsoleRequires, Viewer
from .failures import Failure, attempt
from .names import for_viewer
from .render import console_router, page, see_other

router = console_router()

Reader = Annotated[
    Viewer,
    ConsoleRequires(
        scope="agreements:read", role=("admin", "focal_point", "caseworker", "auditor")
    ),
]
Writer = Annotated[Viewer, ConsoleRequires(scope="agreements:write", role="admin")]

DONE = {
    "draft": "Drafted. Review the text, then propose it to every party.",
    "propose": "Proposed. Every party's node now holds this text for signature.",
    "sign": "Signed with your agency's key.",
    "suspend": "Suspended at every party. No disclosure under it is allowed until it resumes.",
}
#: The draft form's fields, in order; a fault located under one is shown next to it.
FIELDS = (
    "title",
    "parties",
    "purposes",
    "legal_basis",
    "retention_days",
    "valid_from",
    "valid_until",
    "categories",
)


@router.get("/console/agreements")
async def agreements(
    request: Request, viewer: Reader, session: Session, status: str = "", cursor: str = ""
) -> HTMLResponse:
    chosen = AgreementStatus(status) if status in {s.value for s in AgreementStatus} else None
    found = await api.list_agreements(
        principal=viewer.principal,
        session=session,
        party=None,
        status=chosen,
        purpose=None,
        cursor=cursor or None,
        limit=MAX_LIMIT,
    )
    return page(
        request,
        viewer,
        "agreements.html",
        title="Agreements",
        items=found.items,
        next_cursor=found.next_cursor,
        status=chosen.value if chosen else "",
        statuses=[s.value for s in AgreementStatus],
    )


def _form_defaults(viewer: Viewer) -> dict[str, str]:
    today = date.today()
    return {
        "title": "",
        "parties": viewer.agency,
        "purposes": "avrr-counselling",
        "legal_basis": LegalBasis.CONSENT.value,
        "retention_days": "365",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=365)).isoformat(),
        "categories": json.dumps(
            {
                "identity": {"senders": [viewer.agency], "recipients": []},
                "contact": {"senders": [viewer.agency], "recipients": []},
            },
            indent=2,
        ),
    }


def _draft_page(
    request: Request,
    viewer: Viewer,
    values: dict[str, str],
    *,
    status: int = 200,
    failure: Failure | None = None,
) -> HTMLResponse:
    by_field: dict[str, list[str]] = {}
    for loc, message in failure.fields if failure else []:
        head = loc.split(".")[0]
        by_field.setdefault(head if head in FIELDS else "form", []).append(
            f"{loc}: {message}" if head not in FIELDS or "." in loc else message
        )
    return page(
        request,
        viewer,
        "agreement_new.html",
        status_code=status,
        title="Draft an agreement",
        values=values,
        failure=failure,
        field_errors=by_field,
        legal_bases=[b.value for b in LegalBasis],
    )


@router.get("/console/agreements/new")
async def new_agreement(request: Request, viewer: Writer) -> HTMLResponse:
    return _draft_page(request, viewer, _form_defaults(viewer))


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _terms(values: dict[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The terms the form describes, and the faults the form itself can find first."""
    faults: list[tuple[str, str]] = []
    try:
        categories = json.loads(values["categories"] or "{}")
    except json.JSONDecodeError as exc:
        categories = {}
        faults.append(("categories", f"is not valid JSON ({exc.msg} at line {exc.lineno})"))
    retention: Any = values["retention_days"].strip()
    if retention.isdigit():
        retention = int(retention)
    terms = {
        "title": values["title"].strip(),
        "parties": _split(values["parties"]),
        "purposes": _split(values["purposes"]),
        "legal_basis": values["legal_basis"],
        "retention_days": retention,
        "valid_from": f"{values['valid_from']}T00:00:00Z" if values["valid_from"] else "",
        "valid_until": f"{values['valid_until']}T00:00:00Z" if values["valid_until"] else "",
        "categories": categories,
    }
    return terms, faults


@router.post("/console/agreements/new")
async def draft(
    request: Request,
    viewer: Writer,
    session: Session,
    title: Annotated[str, Form()] = "",
    parties: Annotated[str, Form()] = "",
    purposes: Annotated[str, Form()] = "",
    legal_basis: Annotated[str, Form()] = "",
    retention_days: Annotated[str, Form()] = "",
    valid_from: Annotated[str, Form()] = "",
    valid_until: Annotated[str, Form()] = "",
    categories: Annotated[str, Form()] = "",
) -> Response:
    values = {
        "title": title,
        "parties": parties,
        "purposes": purposes,
        "legal_basis": legal_basis,
        "retention_days": retention_days,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "categories": categories,
    }
    terms, faults = _terms(values)
    if faults:
        failure = Failure(
            422, "Some fields need fixing", f"{len(faults)} field(s) need fixing.", [], faults
        )
        return _draft_page(request, viewer, values, status=422, failure=failure)
    state = await attempt(
        session,
        lambda: service.draft(
            session, federation=federation_of(request), principal=viewer.principal, data=terms
        ),
    )
    if isinstance(state, Failure):
        return _draft_page(request, viewer, values, status=state.status, failure=state)
    return see_other(f"/console/agreements/{state.id}?done=draft")


async def _detail(
    request: Request,
    viewer: Viewer,
    session: Session,
    agreement_id: str,
    *,
    status: int = 200,
    notice: str | None = None,
    failure: Failure | None = None,
) -> HTMLResponse:
    state = await service.load(session, principal=viewer.principal, agreement_id=agreement_id)
    agreement = api.describe(state, federation_of(request))
    admin = viewer.has_role("admin")
    mine_unsigned = viewer.agency in agreement.unsigned_parties
    can = {
        "propose": admin and agreement.stored_status == AgreementStatus.DRAFT,
        "sign": admin and agreement.stored_status == AgreementStatus.PROPOSED and mine_unsigned,
        "suspend": admin and agreement.status == AgreementStatus.ACTIVE,
    }
    return page(
        request,
        viewer,
        "agreement.html",
        status_code=status,
        title=agreement.title,
        agreement=agreement,
        canonical=json.dumps(state.canonical(), indent=2, ensure_ascii=False),
        names=await for_viewer(request, session, viewer),
        can=can,
        notice=notice,
        failure=failure,
    )


@router.get("/console/agreements/{agreement_id}")
async def agreement(
    request: Request, agreement_id: str, viewer: Reader, session: Session, done: str = ""
) -> HTMLResponse:
    return await _detail(request, viewer, session, agreement_id, notice=DONE.get(done))


async def _change(
    request: Request, viewer: Viewer, session: Session, agreement_id: str, action: str, run: Any
) -> Response:
    failure = await attempt(session, run)
    if isinstance(failure, Failure):
        return await _detail(
            request, viewer, session, agreement_id, status=failure.status, failure=failure
        )
    return see_other(f"/console/agreements/{agreement_id}?done={action}")


@router.post("/console/agreements/{agreement_id}/propose")
async def propose(
    request: Request, agreement_id: str, viewer: Writer, session: Session
) -> Response:
    async def run() -> None:
        await service.propose(
            session,
            federation=federation_of(request),
            principal=viewer.principal,
            agreement_id=agreement_id,
        )

    return await _change(request, viewer, session, agreement_id, "propose", run)


@router.post("/console/agreements/{agreement_id}/sign")
async def sign(
    request: Request,
    agreement_id: str,
    viewer: Writer,
    session: Session,
    digest: Annotated[str, Form()] = "",
) -> Response:
    """Signs the digest of the text the admin was shown: if it changed since, the signature is
    refused (stale digest) and the page shows the current text."""

    async def run() -> None:
        await service.sign(
            session,
            federation=federation_of(request),
            principal=viewer.principal,
            agreement_id=agreement_id,
            digest=digest,
        )

    return await _change(request, viewer, session, agreement_id, "sign", run)


@router.post("/console/agreements/{agreement_id}/suspend")
async def suspend(
    request: Request,
    agreement_id: str,
    viewer: Writer,
    session: Session,
    confirmed: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    if confirmed != "yes" or not reason.strip():
        failure = (
            Failure(
                422,
                "A reason is needed",
                "Say why the agreement is suspended.",
                [],
                [("reason", "is required")],
            )
            if confirmed == "yes"
            else None
        )
        return page(
            request,
            viewer,
            "confirm.html",
            status_code=failure.status if failure else 200,
            title="Suspend this agreement?",
            question="Suspend this agreement at every party?",
            button="Suspend",
            action=f"/console/agreements/{agreement_id}/suspend",
            back=f"/console/agreements/{agreement_id}",
            needs_reason=True,
            reason=reason,
            categories=[],
            failure=failure,
        )

    async def run() -> None:
        await service.change(
            session,
            federation=federation_of(request),
            principal=viewer.principal,
            agreement_id=agreement_id,
            action="suspend",
            reason=reason.strip(),
        )

    return await _change(request, viewer, session, agreement_id, "suspend", run)
