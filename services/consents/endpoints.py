"""Consent routes: ``/v1/cases/{case_id}/consents`` and ``/v1/consents/{consent_id}``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Body, Response
from pydantic import SkipValidation

from auth.dependencies import Requires
from auth.principal import Principal
from contracts.case_access import CASE_ROLES
from contracts.consent import Narrowing
from kit.db.session import Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from kit.http.state import MasterKey
from services.federation.runtime import FederationDep

from . import service
from .schemas import (
    ConsentCreate,
    ConsentDetail,
    ConsentNarrow,
    ConsentOut,
    ConsentPage,
    ConsentWithdraw,
)

router = api_router(prefix="/v1", tags=["consents"])

# Recording and withdrawing consent is case work (DESIGN §3: caseworkers hold cases and
# consent); the same roles as the case routes, so whoever may see a case sees its consents.
Reader = Annotated[Principal, Requires(scope="cases:read", role=CASE_ROLES)]
Writer = Annotated[Principal, Requires(scope="cases:write", role=CASE_ROLES)]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not at your agency"}}

# Validated by contracts.consent.validate_consent, which reports every fault at once.
NewConsent = Annotated[SkipValidation[ConsentCreate], Body()]


def _out(view: service.ConsentView) -> ConsentOut:
    row = view.consent
    return ConsentOut(
        id=row.id,
        agency=row.agency,
        case_id=row.case_id,
        status=view.status,
        purposes=row.purposes,
        recipients=row.recipients,
        categories=row.categories,
        given_by=row.given_by,
        method=row.method,
        child_views_recorded=row.child_views_sealed is not None,
        valid_until=row.valid_until,
        evidence_ref=row.evidence_ref,
        given_at=row.given_at,
        supersedes=row.supersedes,
        superseded_by=row.superseded_by,
        superseded_at=row.superseded_at,
        withdrawn_at=row.withdrawn_at,
    )


@router.post(
    "/cases/{case_id}/consents",
    status_code=201,
    responses={
        **_NOT_FOUND,
        409: {"description": "The consent named in `supersedes` cannot be superseded"},
        422: {"description": "Consent refused; `errors` lists every reason"},
    },
    summary="Record the person's consent",
)
async def give_consent(
    case_id: uuid.UUID,
    body: NewConsent,
    principal: Writer,
    session: Session,
    master_key: MasterKey,
    response: Response,
) -> ConsentOut:
    """Record the person's consent. For a child it is given by a guardian or legal
    representative, with the child's views recorded (CRC art. 3, 12); the child's views are
    sealed at rest. To change a consent, record a new one with `supersedes`."""
    view = await service.give_consent(
        session, principal=principal, case_id=case_id, master_key=master_key, body=body
    )
    response.headers["Location"] = f"/v1/consents/{view.consent.id}"
    return _out(view)


@router.get(
    "/cases/{case_id}/consents",
    responses={**_NOT_FOUND},
    summary="The case's consents, newest first",
)
async def list_consents(
    case_id: uuid.UUID,
    principal: Reader,
    session: Session,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ConsentPage:
    """The case's consents, newest first, each with its status as of now."""
    page = await service.page_for_case(
        session, principal=principal, case_id=case_id, cursor=cursor, limit=limit
    )
    return ConsentPage(
        items=[_out(v) for v in page.items], next_cursor=page.next_cursor, limit=limit
    )


@router.get(
    "/consents/{consent_id}",
    responses={**_NOT_FOUND},
    summary="One consent, with the child's views (an audited read)",
)
async def get_consent(
    consent_id: uuid.UUID, principal: Reader, session: Session, master_key: MasterKey
) -> ConsentDetail:
    """One consent with the child's views and any withdrawal reason; an audited read."""
    view = await service.read(
        session, principal=principal, consent_id=consent_id, master_key=master_key
    )
    return ConsentDetail(
        **_out(view).model_dump(),
        child_views=view.child_views,
        withdrawal_reason=view.withdrawal_reason,
    )


@router.post(
    "/consents/{consent_id}/narrow",
    responses={
        **_NOT_FOUND,
        409: {"description": "Withdrawn, superseded or expired"},
        422: {"description": "Nothing taken back, or an item the consent does not cover"},
    },
    summary="Take back part of a consent: only what depended on it is revoked and erased",
)
async def narrow_consent(
    consent_id: uuid.UUID,
    body: ConsentNarrow,
    principal: Writer,
    session: Session,
    master_key: MasterKey,
    federation: FederationDep,
) -> ConsentOut:
    """The person takes back recipients, purposes or categories. Referrals that depended on
    them are revoked and their recipients erase; journeys whose stage can no longer go on need
    attention, naming this consent. Taking back all of one kind withdraws the consent."""
    view = await service.narrow(
        session,
        principal=principal,
        consent_id=consent_id,
        master_key=master_key,
        taken_back=Narrowing(
            recipients=tuple(body.recipients),
            purposes=tuple(body.purposes),
            categories=tuple(body.categories),
        ),
        events=federation.events,
    )
    return _out(view)


@router.post(
    "/consents/{consent_id}/withdraw",
    responses={**_NOT_FOUND, 409: {"description": "Already withdrawn or superseded"}},
    summary="Withdraw consent (cascades to every agency that holds the data)",
)
async def withdraw_consent(
    consent_id: uuid.UUID,
    principal: Writer,
    session: Session,
    master_key: MasterKey,
    federation: FederationDep,
    body: ConsentWithdraw | None = None,
) -> ConsentOut:
    """The person withdrew consent: at any time, no reason needed (AVRR principle ii)."""
    view = await service.withdraw(
        session,
        principal=principal,
        consent_id=consent_id,
        master_key=master_key,
        reason=body.reason if body is not None else None,
        events=federation.events,
    )
    return _out(view)
