"""``/v1/referrals``: the consented, approved, sealed, role-scoped exchange (DESIGN §6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query

from auth.dependencies import Requires
from auth.principal import Principal
from contracts.agreements import AgreementRef
from contracts.categories import CategoryData
from contracts.envelope import EnvelopeEvidence, SignedReceipt
from contracts.referrals import ReferralStatus
from kit.db.base import utcnow
from kit.db.session import ReadSession, Session
from kit.errors import NotFound
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from services.federation.outbox import evidence_of
from services.federation.runtime import FederationDep

from . import erasure, repository, service
from .models import Referral
from .schemas import (
    BreakGlassRequest,
    CompleteRequest,
    DeclineRequest,
    ErasureItem,
    ErasureOut,
    ErasurePage,
    EvidenceOut,
    GrantOut,
    HistoryItem,
    ReferralCreate,
    ReferralOut,
    ReferralPage,
    ReferralSummary,
    Withheld,
)

router = api_router(prefix="/v1/referrals", tags=["referrals"])

WORKERS = ("caseworker", "focal_point")
Reader = Annotated[Principal, Requires(scope="referrals:read", role=(*WORKERS, "auditor"))]
Drafter = Annotated[Principal, Requires(scope="referrals:write", role=WORKERS)]
Approver = Annotated[Principal, Requires(scope="referrals:approve", role="focal_point")]
FocalPoint = Annotated[Principal, Requires(scope="referrals:write", role="focal_point")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Missing scope or role, four eyes, or refused by policy "
        "(`violations` lists every reason)"
    },
    404: {"description": "No such referral (or case) at your agency"},
    409: {"description": "Not allowed in the referral's current state (`current_status`)"},
    410: {"description": "The content was erased (`erased_at`, `reason`)"},
}


def summary(row: Referral) -> ReferralSummary:
    return ReferralSummary.from_row(row)


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
        **ReferralSummary.from_row(row).model_dump(),
        agreement=AgreementRef(id=row.agreement_id, version=row.agreement_version),
        consent_id=row.consent_id,
        case_id=str(row.case_id) if row.case_id else None,
        journey_id=row.journey_id,
        outcome=row.outcome,
        history=[HistoryItem.model_validate(entry) for entry in row.history],
        data=CategoryData.model_validate(data or {}),
        withheld=[Withheld.model_validate(w) for w in withheld or []],
        erasure=ErasureOut.model_validate(erasure.erasure_view(row, utcnow())),
        note=note,
        decline_reason=decline_reason,
        refusal=row.refusal,
    )


@router.post(
    "",
    status_code=201,
    responses=_ERRORS,
    summary="Draft a referral (pending approval), if the policy allows it",
    response_model_exclude_unset=True,
)
async def create(
    data: ReferralCreate, principal: Drafter, session: Session, federation: FederationDep
) -> ReferralOut:
    return detail(
        await service.create(session, federation=federation, principal=principal, data=data)
    )


@router.get("", responses=_ERRORS, summary="Referrals of your agency, newest first")
async def list_referrals(
    principal: Reader,
    session: ReadSession,
    direction: Literal["incoming", "outgoing"] | None = None,
    status: ReferralStatus | None = None,
    stage: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ReferralPage:
    page = await service.page(
        session,
        principal=principal,
        direction=direction,
        status=status.value if status else None,
        stage=stage,
        cursor=cursor,
        limit=limit,
    )
    return ReferralPage(
        items=[summary(r) for r in page.items], next_cursor=page.next_cursor, limit=limit
    )


@router.get(
    "/{referral_id}",
    responses=_ERRORS,
    summary="Status, history, the categories you may read, and those withheld",
    response_model_exclude_unset=True,
)
async def get_referral(
    referral_id: str, principal: Reader, session: Session, federation: FederationDep
) -> ReferralOut:
    return view_of(
        await service.read(
            session, federation=federation, principal=principal, referral_id=referral_id
        )
    )


@router.post(
    "/{referral_id}/approve",
    responses=_ERRORS,
    summary="Approve and send (a focal point who did not draft it)",
    response_model_exclude_unset=True,
)
async def approve(
    referral_id: str, principal: Approver, session: Session, federation: FederationDep
) -> ReferralOut:
    return detail(
        await service.approve(
            session, federation=federation, principal=principal, referral_id=referral_id
        )
    )


@router.post(
    "/{referral_id}/accept",
    responses=_ERRORS,
    summary="Accept an incoming referral",
    response_model_exclude_unset=True,
)
async def accept(
    referral_id: str, principal: FocalPoint, session: Session, federation: FederationDep
) -> ReferralOut:
    return detail(
        await service.accept(
            session, federation=federation, principal=principal, referral_id=referral_id
        )
    )


@router.post(
    "/{referral_id}/decline",
    responses=_ERRORS,
    summary="Decline, with a reason",
    response_model_exclude_unset=True,
)
async def decline(
    referral_id: str,
    data: DeclineRequest,
    principal: FocalPoint,
    session: Session,
    federation: FederationDep,
) -> ReferralOut:
    row = await service.decline(
        session,
        federation=federation,
        principal=principal,
        referral_id=referral_id,
        reason=data.reason,
    )
    return detail(row)


@router.post(
    "/{referral_id}/complete",
    responses=_ERRORS,
    summary="Complete with an outcome, and results sealed back to the sender",
    response_model_exclude_unset=True,
)
async def complete(
    referral_id: str,
    data: CompleteRequest,
    principal: Drafter,
    session: Session,
    federation: FederationDep,
) -> ReferralOut:
    row = await service.complete(
        session,
        federation=federation,
        principal=principal,
        referral_id=referral_id,
        outcome=data.outcome,
        results=data.results.present(),
        decision_ref=data.decision_ref,
    )
    return detail(row)


@router.post(
    "/{referral_id}/cancel",
    responses=_ERRORS,
    summary="Cancel before acceptance (the recipient's copy is erased)",
    response_model_exclude_unset=True,
)
async def cancel(
    referral_id: str, principal: Drafter, session: Session, federation: FederationDep
) -> ReferralOut:
    return detail(
        await service.cancel(
            session, federation=federation, principal=principal, referral_id=referral_id
        )
    )


@router.post(
    "/{referral_id}/break-glass",
    status_code=201,
    responses=_ERRORS,
    summary="Open a withheld category once, with a reason, where the agreement allows",
)
async def break_glass(
    referral_id: str,
    data: BreakGlassRequest,
    principal: FocalPoint,
    session: Session,
    federation: FederationDep,
) -> GrantOut:
    grant = await service.break_glass(
        session,
        federation=federation,
        principal=principal,
        referral_id=referral_id,
        category=data.category.value,
        reason=data.reason,
    )
    return GrantOut.model_validate(grant)


@router.get(
    "/{referral_id}/evidence",
    responses=_ERRORS,
    summary="The signed envelope, digests and receipts: proof of what was sent",
)
async def evidence(referral_id: str, principal: Reader, session: ReadSession) -> EvidenceOut:
    row = await service.get_row(session, principal=principal, referral_id=referral_id)
    stored = await repository.stored_envelope(session, row)
    if stored is None:
        raise NotFound("No envelope has left (or arrived) for this referral yet.")
    envelope, receipts = stored
    if row.erasure_receipt:
        receipts.append(row.erasure_receipt)
    return EvidenceOut(
        envelope=EnvelopeEvidence.model_validate(evidence_of(envelope)),
        receipts=[SignedReceipt.model_validate(r) for r in receipts],
    )


erasures_router = api_router(prefix="/v1/erasures", tags=["referrals"])
Overseer = Annotated[Principal, Requires(scope="referrals:read", role=("admin", "auditor"))]


def erasure_item(row: Referral) -> ErasureItem:
    return ErasureItem(
        referral_id=row.referral_id,
        agency=row.agency,
        recipient=row.counterpart,
        agreement_id=row.agreement_id,
        state=erasure.erasure_state(row, utcnow()),
        requested_at=row.erasure_requested_at,
        due_at=row.erasure_due_at,
        erased_at=row.erased_at,
        receipt=SignedReceipt.model_validate(row.erasure_receipt) if row.erasure_receipt else None,
    )


@erasures_router.get(
    "", responses=_ERRORS, summary="Erasure receipts your agency awaits, overdue ones flagged"
)
async def erasures(
    principal: Overseer,
    session: ReadSession,
    state: Literal["pending", "overdue", "confirmed"] | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ErasurePage:
    page = await erasure.erasures(
        session, principal=principal, state=state, cursor=cursor, limit=limit
    )
    return ErasurePage(
        items=[erasure_item(r) for r in page.items], next_cursor=page.next_cursor, limit=limit
    )
