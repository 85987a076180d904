"""``/v1/agreements``: draft, propose, sign, suspend, resume, terminate, amend (DESIGN §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Request

from auth.dependencies import Requires
from auth.principal import Principal
from contracts.agreements import AgreementState, effective_status
from kit.db.base import utcnow
from kit.db.session import Session
from kit.http.routing import api_router
from services.consents import service as consents
from services.federation.runtime import Federation

from . import repository, service
from .schemas import (
    AgreementOut,
    AgreementSummary,
    DecisionOut,
    DecisionRequest,
    ReasonRequest,
    SignRequest,
)

router = api_router(prefix="/v1/agreements", tags=["agreements"])

ANY_ROLE = ("admin", "focal_point", "caseworker", "auditor")
Reader = Annotated[Principal, Requires(scope="agreements:read", role=ANY_ROLE)]
Writer = Annotated[Principal, Requires(scope="agreements:write", role="admin")]
Terms = Annotated[
    dict[str, Any],
    Body(
        description="title, parties, purposes, categories, legal_basis, retention_days, "
        "onward_sharing, valid_from, valid_until, encryption, erasure_deadline_hours, "
        "break_glass, break_glass_hours; every fault is reported at once."
    ),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid token"},
    403: {"description": "Missing scope or role, or not a party"},
    404: {"description": "No such agreement among your agency's"},
    409: {"description": "The agreement's state does not allow this, or a stale digest"},
    422: {"description": "Terms refused; `errors` names every fault"},
}


def _federation(request: Request) -> Federation:
    federation: Federation = request.app.state.federation
    return federation


def describe(state: AgreementState, federation: Federation) -> AgreementOut:
    return AgreementOut(
        id=state.id,
        version=state.version,
        title=state.terms.title,
        status=effective_status(state, utcnow()).value,
        stored_status=state.status.value,
        parties=sorted(set(state.terms.parties)),
        purposes=sorted(set(state.terms.purposes)),
        canonical=state.canonical(),
        digest=state.digest,
        signatures=service.signature_checks(state, federation),
        unsigned_parties=list(state.unsigned_parties()),
        supersedes=state.supersedes.model_dump(mode="json") if state.supersedes else None,
        superseded_by=state.superseded_by.model_dump(mode="json") if state.superseded_by else None,
        suspended_by=list(state.suspended_by),
        history=[entry.model_dump(mode="json") for entry in state.history],
    )


@router.post("", status_code=201, responses=_ERRORS, summary="Draft an agreement")
async def draft(
    request: Request, terms: Terms, principal: Writer, session: Session
) -> AgreementOut:
    federation = _federation(request)
    return describe(await service.draft(session, federation, principal, terms), federation)


@router.get("", responses=_ERRORS, summary="Agreements your agency is a party to")
async def list_agreements(
    principal: Reader,
    session: Session,
    party: str | None = None,
    status: str | None = None,
    purpose: str | None = None,
) -> list[AgreementSummary]:
    rows = await repository.list_for(session, principal.agency, party=party, purpose=purpose)
    now = utcnow()
    out = []
    for row in rows:
        state = repository.to_state(row)
        effective = effective_status(state, now).value
        if status and effective != status:
            continue
        out.append(
            AgreementSummary(
                id=state.id,
                version=state.version,
                title=state.terms.title,
                status=effective,
                parties=sorted(set(state.terms.parties)),
                purposes=sorted(set(state.terms.purposes)),
                digest=state.digest,
            )
        )
    return out


@router.get("/{agreement_id}", responses=_ERRORS, summary="Canonical text, digest, signatures")
async def get_agreement(
    request: Request,
    agreement_id: str,
    principal: Reader,
    session: Session,
    version: int | None = None,
) -> AgreementOut:
    state = await service.load(session, principal, agreement_id, version)
    return describe(state, _federation(request))


@router.put("/{agreement_id}", responses=_ERRORS, summary="Revise a draft or proposal")
async def revise(
    request: Request, agreement_id: str, terms: Terms, principal: Writer, session: Session
) -> AgreementOut:
    federation = _federation(request)
    state = await service.revise(session, federation, principal, agreement_id, terms)
    return describe(state, federation)


@router.post("/{agreement_id}/propose", responses=_ERRORS, summary="Send to every party")
async def propose(
    request: Request, agreement_id: str, principal: Writer, session: Session
) -> AgreementOut:
    federation = _federation(request)
    return describe(await service.propose(session, federation, principal, agreement_id), federation)


@router.post("/{agreement_id}/sign", responses=_ERRORS, summary="Sign with your agency's key")
async def sign(
    request: Request, agreement_id: str, data: SignRequest, principal: Writer, session: Session
) -> AgreementOut:
    federation = _federation(request)
    state = await service.sign(session, federation, principal, agreement_id, data.digest)
    return describe(state, federation)


@router.post("/{agreement_id}/suspend", responses=_ERRORS, summary="Suspend, at every party")
async def suspend(
    request: Request, agreement_id: str, data: ReasonRequest, principal: Writer, session: Session
) -> AgreementOut:
    federation = _federation(request)
    state = await service.change(
        session, federation, principal, agreement_id, "suspend", data.reason
    )
    return describe(state, federation)


@router.post("/{agreement_id}/resume", responses=_ERRORS, summary="Lift your suspension")
async def resume(
    request: Request, agreement_id: str, principal: Writer, session: Session
) -> AgreementOut:
    federation = _federation(request)
    state = await service.change(session, federation, principal, agreement_id, "resume")
    return describe(state, federation)


@router.post("/{agreement_id}/terminate", responses=_ERRORS, summary="End it, at every party")
async def terminate(
    request: Request, agreement_id: str, data: ReasonRequest, principal: Writer, session: Session
) -> AgreementOut:
    federation = _federation(request)
    state = await service.change(
        session, federation, principal, agreement_id, "terminate", data.reason
    )
    return describe(state, federation)


@router.post(
    "/{agreement_id}/amend",
    status_code=201,
    responses=_ERRORS,
    summary="Draft the next version, which supersedes this one once all sign it",
)
async def amend(
    request: Request, agreement_id: str, terms: Terms, principal: Writer, session: Session
) -> AgreementOut:
    federation = _federation(request)
    state = await service.amend(session, federation, principal, agreement_id, terms)
    return describe(state, federation)


@router.post(
    "/{agreement_id}/decisions",
    responses=_ERRORS,
    summary="Dry run of the policy decision for your agency as sender",
)
async def decision(
    agreement_id: str, data: DecisionRequest, principal: Reader, session: Session
) -> DecisionOut:
    consent = None
    if data.consent_id is not None:
        consent = await consents.record_for(session, principal, data.consent_id)
    result = await service.decide_for(
        session,
        principal,
        agreement_id,
        recipient=data.recipient,
        purpose=data.purpose,
        categories=data.categories,
        consent=consent,
    )
    body = result.as_dict()
    return DecisionOut(**body)
