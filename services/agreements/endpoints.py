"""``/v1/agreements``: draft, propose, sign, suspend, resume, terminate, amend (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Path, Query
from pydantic import SkipValidation
from sqlalchemy.ext.asyncio import AsyncSession

from auth.dependencies import Requires
from auth.principal import Principal
from contracts.agreements import (
    AgreementState,
    AgreementStatus,
    AgreementTerms,
    effective_status,
    terms_warnings,
)
from kit.db.base import utcnow
from kit.db.session import Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from services.consents import service as consents
from services.federation.runtime import Federation, FederationDep

from . import service
from .schemas import (
    AgreementOut,
    AgreementPage,
    AgreementSummary,
    AgreementWarning,
    CanonicalTerms,
    DecisionOut,
    DecisionRequest,
    ReasonRequest,
    SignatureCheck,
    SignRequest,
)

router = api_router(prefix="/v1/agreements", tags=["agreements"])

ANY_ROLE = ("admin", "focal_point", "caseworker", "auditor")
Reader = Annotated[Principal, Requires(scope="agreements:read", role=ANY_ROLE)]
Writer = Annotated[Principal, Requires(scope="agreements:write", role="admin")]
# Declared as the signed model, validated by contracts.agreements.validate_terms, which names
# every fault with its code at once (see .schemas).
Terms = Annotated[
    SkipValidation[AgreementTerms],
    Body(description="The terms every party signs; every fault is reported at once."),
]
AgreementId = Annotated[str, Path(min_length=1, max_length=64)]
#: Versions are positive and fit the database's integer column on every backend.
Version = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="A version; the newest by default.")
]
_FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"description": "Missing scope or role, or your agency is not a party"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such agreement among your agency's"},
}
_TERMS = {**_FORBIDDEN, 422: {"description": "Terms refused; `errors` names every fault"}}
_STATE: dict[int | str, dict[str, Any]] = {
    **_FORBIDDEN,
    **_NOT_FOUND,
    409: {"description": "The agreement's state does not allow this (`current_status`)"},
}
_SIGN = {**_STATE, 409: {"description": "Not proposed, or `digest` is not the current text's"}}
# Revising and amending check the terms and the state.
_CHANGE_TERMS = {**_STATE, **_TERMS}


def warnings_of(state: AgreementState) -> list[AgreementWarning]:
    return [AgreementWarning.model_validate(w.model_dump()) for w in terms_warnings(state.terms)]


def describe(state: AgreementState, federation: Federation) -> AgreementOut:
    return AgreementOut(
        id=state.id,
        version=state.version,
        title=state.terms.title,
        status=effective_status(state, utcnow()),
        stored_status=state.status,
        parties=sorted(set(state.terms.parties)),
        purposes=sorted(set(state.terms.purposes)),
        canonical=CanonicalTerms.model_validate(state.canonical()),
        digest=state.digest,
        signatures=[
            SignatureCheck.model_validate(c) for c in service.signature_checks(state, federation)
        ],
        unsigned_parties=list(state.unsigned_parties()),
        supersedes=state.supersedes,
        superseded_by=state.superseded_by,
        suspended_by=list(state.suspended_by),
        history=list(state.history),
        warnings=warnings_of(state),
    )


def summarize(state: AgreementState, now: datetime) -> AgreementSummary:
    return AgreementSummary(
        id=state.id,
        version=state.version,
        title=state.terms.title,
        status=effective_status(state, now),
        parties=sorted(set(state.terms.parties)),
        purposes=sorted(set(state.terms.purposes)),
        digest=state.digest,
        warnings=warnings_of(state),
    )


@router.post("", status_code=201, responses=_TERMS, summary="Draft an agreement")
async def draft(
    terms: Terms, principal: Writer, session: Session, federation: FederationDep
) -> AgreementOut:
    state = await service.draft(session, federation=federation, principal=principal, data=terms)
    return describe(state, federation)


@router.get("", summary="Agreements your agency is a party to")
async def list_agreements(
    principal: Reader,
    session: Session,
    party: Annotated[
        str | None, Query(max_length=32, description="Only those this agency is a party to too.")
    ] = None,
    status: Annotated[AgreementStatus | None, Query(description="The status as of now.")] = None,
    purpose: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> AgreementPage:
    """Every version your agency is a party to, newest first."""
    found = await service.page(
        session,
        principal=principal,
        party=party,
        status=status,
        purpose=purpose,
        cursor=cursor,
        limit=limit,
    )
    now = utcnow()
    return AgreementPage(
        items=[summarize(state, now) for state in found.items],
        next_cursor=found.next_cursor,
        limit=limit,
    )


@router.get("/{agreement_id}", responses=_NOT_FOUND, summary="Canonical text, digest, signatures")
async def get_agreement(
    agreement_id: AgreementId,
    principal: Reader,
    session: Session,
    federation: FederationDep,
    version: Version = None,
) -> AgreementOut:
    state = await service.load(
        session, principal=principal, agreement_id=agreement_id, version=version
    )
    return describe(state, federation)


@router.put("/{agreement_id}", responses=_CHANGE_TERMS, summary="Revise a draft or proposal")
async def revise(
    agreement_id: AgreementId,
    terms: Terms,
    principal: Writer,
    session: Session,
    federation: FederationDep,
) -> AgreementOut:
    state = await service.revise(
        session, federation=federation, principal=principal, agreement_id=agreement_id, data=terms
    )
    return describe(state, federation)


@router.post("/{agreement_id}/propose", responses=_STATE, summary="Send to every party")
async def propose(
    agreement_id: AgreementId, principal: Writer, session: Session, federation: FederationDep
) -> AgreementOut:
    state = await service.propose(
        session, federation=federation, principal=principal, agreement_id=agreement_id
    )
    return describe(state, federation)


@router.post("/{agreement_id}/sign", responses=_SIGN, summary="Sign with your agency's key")
async def sign(
    agreement_id: AgreementId,
    data: SignRequest,
    principal: Writer,
    session: Session,
    federation: FederationDep,
) -> AgreementOut:
    state = await service.sign(
        session,
        federation=federation,
        principal=principal,
        agreement_id=agreement_id,
        digest=data.digest,
    )
    return describe(state, federation)


async def _change(
    federation: FederationDep,
    principal: Principal,
    session: AsyncSession,
    agreement_id: str,
    action: str,
    reason: str | None = None,
) -> AgreementOut:
    state = await service.change(
        session,
        federation=federation,
        principal=principal,
        agreement_id=agreement_id,
        action=action,
        reason=reason,
    )
    return describe(state, federation)


@router.post("/{agreement_id}/suspend", responses=_STATE, summary="Suspend, at every party")
async def suspend(
    agreement_id: AgreementId,
    data: ReasonRequest,
    principal: Writer,
    session: Session,
    federation: FederationDep,
) -> AgreementOut:
    return await _change(federation, principal, session, agreement_id, "suspend", data.reason)


@router.post("/{agreement_id}/resume", responses=_STATE, summary="Lift your suspension")
async def resume(
    agreement_id: AgreementId, principal: Writer, session: Session, federation: FederationDep
) -> AgreementOut:
    return await _change(federation, principal, session, agreement_id, "resume")


@router.post("/{agreement_id}/terminate", responses=_STATE, summary="End it, at every party")
async def terminate(
    agreement_id: AgreementId,
    data: ReasonRequest,
    principal: Writer,
    session: Session,
    federation: FederationDep,
) -> AgreementOut:
    return await _change(federation, principal, session, agreement_id, "terminate", data.reason)


@router.post(
    "/{agreement_id}/amend",
    status_code=201,
    responses=_CHANGE_TERMS,
    summary="Draft the next version, which supersedes this one once all sign it",
)
async def amend(
    agreement_id: AgreementId,
    terms: Terms,
    principal: Writer,
    session: Session,
    federation: FederationDep,
) -> AgreementOut:
    state = await service.amend(
        session, federation=federation, principal=principal, agreement_id=agreement_id, data=terms
    )
    return describe(state, federation)


@router.post(
    "/{agreement_id}/decisions",
    responses=_NOT_FOUND,
    summary="Dry run of the policy decision for your agency as sender",
)
async def decision(
    agreement_id: AgreementId, data: DecisionRequest, principal: Reader, session: Session
) -> DecisionOut:
    consent = None
    if data.consent_id is not None:
        consent = await consents.record_for(
            session, principal=principal, consent_id=data.consent_id
        )
    result = await service.decide_for(
        session,
        principal=principal,
        agreement_id=agreement_id,
        recipient=data.recipient,
        purpose=data.purpose,
        categories=data.categories,
        consent=consent,
    )
    return DecisionOut.model_validate(result.as_dict())
