"""``/v1/referrals``: the consented, approved, sealed, role-scoped exchange (DESIGN §6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Request
from sqlalchemy import select

from auth.dependencies import Requires
from auth.principal import Principal
from contracts import envelope as env
from kit.db.base import utcnow
from kit.db.repository import DEFAULT_LIMIT, MAX_LIMIT
from kit.db.session import ReadSession, Session
from kit.errors import NotFound
from kit.http.routing import api_router
from services.federation.models import InboxMessage, OutboxMessage
from services.federation.outbox import evidence_of
from services.federation.runtime import Federation

from . import erasure, service
from .models import Referral
from .schemas import (
    BreakGlassRequest,
    CompleteRequest,
    DeclineRequest,
    ReferralCreate,
    ReferralOut,
    ReferralPage,
    ReferralSummary,
)

router = api_router(prefix="/v1/referrals", tags=["referrals"])

WORKERS = ("caseworker", "focal_point")
Reader = Annotated[Principal, Requires(scope="referrals:read", role=(*WORKERS, "auditor"))]
Drafter = Annotated[Principal, Requires(scope="referrals:write", role=WORKERS)]
Approver = Annotated[Principal, Requires(scope="referrals:approve", role="focal_point")]
FocalPoint = Annotated[Principal, Requires(scope="referrals:write", role="focal_point")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid token"},
    403: {
        "description": "Missing scope or role, four eyes, or refused by policy "
        "(`violations` lists every reason)"
    },
    404: {"description": "No such referral (or case) at your agency"},
    409: {"description": "Not allowed in the referral's current state (`current_status`)"},
    410: {"description": "The content was erased (`erased_at`, `reason`)"},
    422: {"description": "Invalid request; `errors` names every fault"},
}


def _federation(request: Request) -> Federation:
    federation: Federation = request.app.state.federation
    return federation


def summary(row: Referral) -> ReferralSummary:
    return ReferralSummary(
        id=row.referral_id,
        direction=row.direction,
        agency=row.agency,
        counterpart=row.counterpart,
        status=row.status,
        purpose=row.purpose,
        stage=row.stage,
        categories=list(row.categories),
        respond_by=row.respond_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def view_of(view: service.ReferralView) -> ReferralOut:
    """What a reader of the referral sees (``GET /v1/referrals/{id}``)."""
    return detail(view.row, view.data, view.withheld, view.note, view.decline_reason)


def detail(
    row: Referral,
    data: dict[str, Any] | None = None,
    withheld: list[dict[str, str]] | None = None,
    note: str | None = None,
    decline_reason: str | None = None,
) -> ReferralOut:
    return ReferralOut(
        **summary(row).model_dump(),
        agreement={"id": row.agreement_id, "version": row.agreement_version},
        consent_id=row.consent_id,
        case_id=str(row.case_id) if row.case_id else None,
        journey_id=row.journey_id,
        outcome=row.outcome,
        history=list(row.history),
        data=data or {},
        withheld=withheld or [],
        erasure=erasure.erasure_view(row, utcnow()),
        note=note,
        decline_reason=decline_reason,
        refusal=row.refusal,
    )


@router.post(
    "",
    status_code=201,
    responses=_ERRORS,
    summary="Draft a referral (pending approval), if the policy allows it",
)
async def create(
    request: Request, data: ReferralCreate, principal: Drafter, session: Session
) -> ReferralOut:
    return detail(await service.create(session, _federation(request), principal, data))


@router.get("", responses=_ERRORS, summary="Referrals of your agency, newest first")
async def list_referrals(
    principal: Reader,
    session: ReadSession,
    direction: Literal["incoming", "outgoing"] | None = None,
    status: str | None = None,
    stage: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ReferralPage:
    page = await service.page(
        session,
        principal,
        direction=direction,
        status=status,
        stage=stage,
        cursor=cursor,
        limit=limit,
    )
    return ReferralPage(items=[summary(r) for r in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{referral_id}",
    responses=_ERRORS,
    summary="Status, history, the categories you may read, and those withheld",
)
async def get_referral(
    request: Request, referral_id: str, principal: Reader, session: Session
) -> ReferralOut:
    return view_of(await service.read(session, _federation(request), principal, referral_id))


@router.post(
    "/{referral_id}/approve",
    responses=_ERRORS,
    summary="Approve and send (a focal point who did not draft it)",
)
async def approve(
    request: Request, referral_id: str, principal: Approver, session: Session
) -> ReferralOut:
    return detail(await service.approve(session, _federation(request), principal, referral_id))


@router.post("/{referral_id}/accept", responses=_ERRORS, summary="Accept an incoming referral")
async def accept(
    request: Request, referral_id: str, principal: FocalPoint, session: Session
) -> ReferralOut:
    return detail(await service.accept(session, _federation(request), principal, referral_id))


@router.post("/{referral_id}/decline", responses=_ERRORS, summary="Decline, with a reason")
async def decline(
    request: Request,
    referral_id: str,
    data: DeclineRequest,
    principal: FocalPoint,
    session: Session,
) -> ReferralOut:
    row = await service.decline(session, _federation(request), principal, referral_id, data.reason)
    return detail(row)


@router.post(
    "/{referral_id}/complete",
    responses=_ERRORS,
    summary="Complete with an outcome, and results sealed back to the sender",
)
async def complete(
    request: Request, referral_id: str, data: CompleteRequest, principal: Drafter, session: Session
) -> ReferralOut:
    row = await service.complete(
        session,
        _federation(request),
        principal,
        referral_id,
        data.outcome,
        {c.value: v for c, v in data.results.items()},
    )
    return detail(row)


@router.post(
    "/{referral_id}/cancel",
    responses=_ERRORS,
    summary="Cancel before acceptance (the recipient's copy is erased)",
)
async def cancel(
    request: Request, referral_id: str, principal: Drafter, session: Session
) -> ReferralOut:
    return detail(await service.cancel(session, _federation(request), principal, referral_id))


@router.post(
    "/{referral_id}/break-glass",
    status_code=201,
    responses=_ERRORS,
    summary="Open a withheld category once, with a reason, where the agreement allows",
)
async def break_glass(
    request: Request,
    referral_id: str,
    data: BreakGlassRequest,
    principal: FocalPoint,
    session: Session,
) -> dict[str, Any]:
    grant = await service.break_glass(
        session, _federation(request), principal, referral_id, data.category.value, data.reason
    )
    return {
        "category": grant.category,
        "granted_at": grant.granted_at,
        "expires_at": grant.expires_at,
    }


@router.get(
    "/{referral_id}/evidence",
    responses=_ERRORS,
    summary="The signed envelope, digests and receipts: proof of what was sent",
)
async def evidence(referral_id: str, principal: Reader, session: ReadSession) -> dict[str, Any]:
    row = await service.get_row(session, principal, referral_id)
    receipts: list[dict[str, Any]] = []
    envelope: dict[str, Any] | None = None
    if row.direction == "outgoing" and row.message_id:
        message = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.message_id == row.message_id)
            )
        ).first()
        if message is not None:
            envelope = message.envelope
            if message.receipt:
                receipts.append(message.receipt)
    elif row.direction == "incoming" and row.message_id:
        stored = (
            await session.scalars(
                select(InboxMessage).where(InboxMessage.message_id == row.message_id)
            )
        ).first()
        if stored is not None:
            envelope = stored.envelope
            receipts.append(stored.receipt)
    if envelope is None:
        raise NotFound("No envelope has left (or arrived) for this referral yet.")
    if row.erasure_receipt:
        receipts.append(row.erasure_receipt)
    evidence_only = env.EnvelopeEvidence.model_validate(evidence_of(envelope))
    return {"envelope": evidence_only.model_dump(mode="json"), "receipts": receipts}


erasures_router = api_router(prefix="/v1/erasures", tags=["referrals"])
Overseer = Annotated[Principal, Requires(scope="referrals:read", role=("admin", "auditor"))]


@erasures_router.get(
    "", responses=_ERRORS, summary="Erasure receipts your agency awaits, overdue ones flagged"
)
async def erasures(
    principal: Overseer,
    session: ReadSession,
    state: Literal["pending", "overdue", "confirmed"] | None = None,
) -> list[dict[str, Any]]:
    rows = (
        await session.scalars(
            select(Referral)
            .where(
                Referral.agency == principal.agency,
                Referral.direction == "outgoing",
                Referral.erasure_requested_at.is_not(None),
            )
            .order_by(Referral.erasure_due_at)
        )
    ).all()
    now = utcnow()
    out = []
    for row in rows:
        view = erasure.erasure_view(row, now)
        current = (
            "confirmed" if row.erasure_receipt else ("overdue" if view["overdue"] else "pending")
        )
        if state and current != state:
            continue
        out.append(
            {
                "referral_id": row.referral_id,
                "agency": row.agency,
                "recipient": row.counterpart,
                "agreement_id": row.agreement_id,
                "state": current,
                "requested_at": row.erasure_requested_at,
                "due_at": row.erasure_due_at,
                "erased_at": row.erased_at,
                "receipt": row.erasure_receipt,
            }
        )
    return out
