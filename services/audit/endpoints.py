"""``/v1/audit``: an agency's auditors read and verify its audit log (DESIGN §8)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Query

from auth.dependencies import Requires
from auth.principal import Principal
from contracts.audit_chain import SignedCheckpoint
from kit.db.session import Session
from kit.errors import ValidationFailed
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from kit.http.state import MasterKey

from . import repository, service
from .schemas import AuditEventOut, AuditPage, BadEvent, ChainHeadOut, ChainVerification

router = api_router(prefix="/v1/audit", tags=["audit"])

Auditor = Annotated[Principal, Requires(scope="audit:read", role="auditor")]
# A checkpoint discloses nothing and changes no record: it only attests the chain as it is, so
# an admin may ask for one too, under the scope that reads the log.
Attestor = Annotated[Principal, Requires(scope="audit:read", role=["auditor", "admin"])]


@router.get(
    "",
    responses={422: {"description": "Invalid filter or cursor"}},
    summary="Your agency's audit events, newest first, filtered",
)
async def list_events(
    principal: Auditor,
    session: Session,
    case_id: uuid.UUID | None = None,
    referral_id: uuid.UUID | None = None,
    actor: Annotated[
        str | None, Query(description="`user:<id>`, `client:<client_id>` or `node`.")
    ] = None,
    action: str | None = None,
    break_glass: bool | None = None,
    since: Annotated[
        datetime | None, Query(alias="from", description="Events at or after this time.")
    ] = None,
    until: Annotated[
        datetime | None, Query(alias="to", description="Events before this time.")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> AuditPage:
    """The caller's agency's events, newest first, filtered."""
    for name, moment in (("from", since), ("to", until)):
        if moment is not None and moment.tzinfo is None:
            raise _invalid(name, "Give a time zone, e.g. 2026-05-01T12:00:00Z.")
    if since is not None and until is not None and since >= until:
        raise _invalid("to", "`to` must be later than `from`.")
    where = repository.EventFilter(
        case_id=str(case_id) if case_id else None,
        referral_id=str(referral_id) if referral_id else None,
        actor=actor,
        action=action,
        break_glass=break_glass,
        since=since,
        until=until,
    )
    page = await repository.page_for(session, principal, where, cursor=cursor, limit=limit)
    return AuditPage(
        items=[AuditEventOut.model_validate(event) for event in page.items],
        next_cursor=page.next_cursor,
        limit=limit,
    )


def _invalid(parameter: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message,
        extra={"errors": [{"location": f"query.{parameter}", "message": message, "type": "time"}]},
    )


@router.get("/verify", summary="Verify your agency's hash chain and checkpoints")
async def verify_chain(
    principal: Auditor, session: Session, master_key: MasterKey
) -> ChainVerification:
    """Verify the caller's agency's chain: every link, the head, and every signed checkpoint.

    Answers 200 either way; ``ok`` says whether it verifies and ``first_bad_event`` where it
    does not.
    """
    result = await service.verify(session, master_key=master_key, agency=principal.agency)
    report, finding = result.report, result.report.finding
    return ChainVerification(
        agency=report.agency,
        ok=report.ok,
        checked_at=result.checked_at,
        events=report.events,
        head=ChainHeadOut(seq=result.head.seq, hash=result.head.hash) if result.head else None,
        checkpoints=len(report.checkpoints),
        latest_checkpoint=report.latest_checkpoint,
        first_bad_event=BadEvent(
            seq=finding.seq,
            event_id=uuid.UUID(result.event_id) if result.event_id else None,
            problem=finding.problem,
            detail=finding.detail,
        )
        if finding
        else None,
    )


@router.post(
    "/checkpoints",
    status_code=201,
    responses={409: {"description": "The agency has no signing key"}},
    summary="Sign a checkpoint of your agency's chain now",
)
async def create_checkpoint(
    principal: Attestor, session: Session, master_key: MasterKey
) -> SignedCheckpoint:
    """Sign a checkpoint of the caller's agency's chain now (the request itself is recorded
    first, so the checkpoint covers it). The signature verifies with the agency's Ed25519 key
    from the directory, over the RFC 8785 form of ``{"agency", "seq", "hash", "at"}``."""
    row = await service.checkpoint_on_request(session, master_key=master_key, principal=principal)
    return service.signed_checkpoint(row)
