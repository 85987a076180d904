"""The federation endpoint other nodes call, the directory, and admins' views of traffic."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse

from auth.dependencies import Requires
from auth.principal import Principal
from contracts import envelope as env
from kit.db.session import ReadSession, Session, database
from kit.errors import PROBLEM_MEDIA_TYPE, AccordError, problem_body
from kit.http.openapi import inline_schema
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from kit.http.schemas import PublicJwk
from kit.http.state import MetricsDep

from . import errors, incidents, repository
from .inbox import MAX_BATCH, Batch, parse_batch, parse_envelope, receive, receive_batch
from .outbox import ATTEMPT_HEADER, BATCHES_PATH, MESSAGES_PATH, send
from .ping import PING, PROBE
from .runtime import Federation, FederationDep
from .schemas import (
    BatchProblem,
    BatchReceipts,
    DirectoryOut,
    DirectoryStatus,
    InboxItem,
    InboxPage,
    IncidentItem,
    IncidentPage,
    OutboxItem,
    OutboxPage,
    OutboxStatus,
    OutboxSummary,
    PingRequest,
    PingResponse,
)

router = api_router(tags=["federation"])

Reader = Annotated[Principal, Requires(scope="federation:read", role="admin")]
Writer = Annotated[Principal, Requires(scope="federation:write", role="admin")]


async def _read_limited(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise errors.MessageTooLarge(f"The message exceeds {limit} bytes.")
    return bytes(body)


@router.post(
    MESSAGES_PATH,
    summary="Receive a sealed, signed envelope from another node (authenticated by signature)",
    status_code=201,
    response_model=env.SignedReceipt,
    responses={
        200: {
            "model": env.SignedReceipt,
            "description": "A repeat: the receipt given the first time",
        },
        201: {"description": "Stored; the body is the recipient's signed receipt"},
        400: {"description": "Not a valid envelope"},
        403: {"description": "The signature does not verify, or the sender is unknown"},
        409: {"description": "Another message was sent under this id"},
        413: {"description": "The message exceeds the node's limit"},
        421: {"description": "The recipient is not hosted on this node"},
        422: {
            "description": "Verified, but its content is refused: `violations` lists every "
            "reason and `receipt` is the signed refusal receipt"
        },
        503: {"description": "The node holds no verified directory yet; retry later"},
    },
    # The handler reads the body itself, bounded (federation_max_message_bytes), so FastAPI
    # does not see it: it is declared here.
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": inline_schema(env.Envelope)}},
            "required": True,
        }
    },
)
async def receive_message(
    request: Request, federation: FederationDep, metrics: MetricsDep
) -> JSONResponse:
    db = database(request)
    claimed: dict[str, Any] = {}
    try:
        raw = await _read_limited(request, federation.settings.federation_max_message_bytes)
        envelope = parse_envelope(raw)
        header = envelope.header
        claimed = {"agency": header.to, "peer": header.from_, "message_id": header.id}
        async with db.sessions() as session, session.begin():
            receipt, first = await receive(
                session, federation, envelope, request.headers.get(ATTEMPT_HEADER)
            )
    except errors.FederationRefusal as refusal:
        _count_refusal(federation, metrics, refusal)
        if refusal.authenticated and not refusal.retryable:
            await incidents.record(
                db,
                agency=claimed.get("agency"),
                direction="in",
                kind=refusal.slug,
                peer=claimed.get("peer"),
                message_id=claimed.get("message_id"),
                detail=refusal.detail,
            )
        raise
    reasons = incidents.refusal_of(receipt)
    if reasons:
        metrics.federation_refused.labels(
            kind=errors.ContentRefused.slug, authenticated="true"
        ).inc()
        if first:
            await incidents.record_refused(db, header, reasons)
        return JSONResponse(
            refused_problem(reasons, receipt), status_code=422, media_type=PROBLEM_MEDIA_TYPE
        )
    return JSONResponse(receipt.model_dump(mode="json"), status_code=201 if first else 200)


def _count_refusal(federation: Federation, metrics: Any, refusal: errors.FederationRefusal) -> None:
    metrics.federation_refused.labels(
        kind=refusal.slug, authenticated=str(refusal.authenticated).lower()
    ).inc()
    if not refusal.authenticated:
        # Anyone can send this: counted and logged, never a row (it could fill the disk).
        federation.refusals_log(
            "federation_refused_unauthenticated", key=refusal.slug, kind=refusal.slug
        )


@router.post(
    BATCHES_PATH,
    summary=f"Receive up to {MAX_BATCH} envelopes of one sender→recipient channel, in order",
    response_model=BatchReceipts,
    responses={
        200: {
            "description": "`receipts`, one per envelope in the same order, each what that "
            "envelope would have got alone: the signed receipt (`accepted: true`, or "
            "`accepted: false` with `reasons` when its content is refused, as a single 422 "
            "carries it), or the problem document a single message would have got (a bad "
            "signature, a stale attempt, a reused id, ...; `retryable` says whether it may "
            "pass later). After a retryable problem the rest are `not-attempted` problems: "
            "nothing of them is stored, so the channel stays in order."
        },
        400: {"description": "Not a batch, or its envelopes span several channels"},
        413: {"description": "More than 100 envelopes, or the body exceeds the node's limit"},
        503: {"description": "The node holds no verified directory yet; retry later"},
    },
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": inline_schema(Batch)}},
            "required": True,
        }
    },
)
async def receive_batch_of_messages(
    request: Request, federation: FederationDep, metrics: MetricsDep
) -> JSONResponse:
    """Each envelope is verified and stored on its own, exactly as through
    ``POST /federation/v1/messages`` (same idempotency by id), in one transaction per batch
    with a savepoint per envelope: one refused envelope rolls back nothing of the others.
    ``attempts[i]`` is the ``Accord-Attempt`` value of ``envelopes[i]``."""
    try:
        raw = await _read_limited(request, federation.settings.federation_max_batch_bytes)
        batch = parse_batch(raw)
    except errors.FederationRefusal as refusal:
        _count_refusal(federation, metrics, refusal)
        raise
    federation.directory.require()
    async with database(request).sessions() as session, session.begin():
        results = await receive_batch(
            session, federation, list(zip(batch.envelopes, batch.attempts, strict=True))
        )
        for envelope, result in zip(batch.envelopes, results, strict=True):
            await incidents.add_received(session, envelope.header, result)
    receipts: list[dict[str, Any]] = []
    for result in results:
        if isinstance(result, errors.FederationRefusal):
            if not isinstance(result, errors.NotAttempted):
                _count_refusal(federation, metrics, result)
            receipts.append(
                BatchProblem(
                    type=result.type_uri(),
                    title=result.title,
                    status=result.status,
                    detail=result.detail,
                    retryable=result.retryable,
                ).model_dump(mode="json")
            )
            continue
        receipt, _ = result
        if incidents.refusal_of(receipt):
            metrics.federation_refused.labels(
                kind=errors.ContentRefused.slug, authenticated="true"
            ).inc()
        receipts.append(receipt.model_dump(mode="json"))
    return JSONResponse({"receipts": receipts})


def refused_problem(
    reasons: tuple[env.RefusalReason, ...], receipt: env.SignedReceipt
) -> dict[str, Any]:
    """The 422 answer to a verified message whose content is refused: a problem document
    whose ``receipt`` member is the signed refusal receipt (DESIGN §4)."""
    return problem_body(
        errors.ContentRefused.type_uri(),
        errors.ContentRefused.title,
        422,
        "; ".join(r.message for r in reasons),
        violations=[r.model_dump(mode="json") for r in reasons],
        receipt=receipt.model_dump(mode="json"),
    )


@router.get(
    "/v1/directory",
    summary="The federation directory this node holds, as signed",
    response_model=DirectoryOut,
    responses={503: {"description": "No verified directory is held"}},
)
async def get_directory(federation: FederationDep) -> JSONResponse:
    document = federation.directory.document()
    if document is None:
        federation.directory.require()
    return JSONResponse(document)


@router.get(
    "/v1/directory/root",
    summary="The pinned federation root public key (JWK)",
    responses={503: {"description": "No root key is pinned"}},
)
async def get_directory_root(federation: FederationDep) -> PublicJwk:
    root = federation.directory.root
    if root is None:
        raise errors.DirectoryUnavailable("No root key is pinned (ACCORD_DIRECTORY_ROOT_KEY).")
    return PublicJwk.model_validate(root.to_jwk())


@router.post("/v1/federation/directory/refresh", summary="Read the directory source again now")
async def refresh_directory(_: Writer, federation: FederationDep) -> DirectoryStatus:
    holder = federation.directory
    changed = await holder.refresh(federation.http)
    return _status(holder, changed)


@router.get("/v1/federation/directory/status", summary="Which directory version is in force")
async def directory_status(_: Reader, federation: FederationDep) -> DirectoryStatus:
    return _status(federation.directory, False)


def _status(holder: Any, changed: bool) -> DirectoryStatus:
    held = holder.current()
    return DirectoryStatus(
        configured=holder.configured,
        version=held.version if held else None,
        federation=held.federation if held else None,
        last_error=holder.last_error,
        changed=changed,
    )


@router.post(
    "/v1/federation/pings",
    status_code=202,
    summary="Queue ping messages to another agency, to test the path end to end",
)
async def ping(
    data: PingRequest, principal: Writer, session: Session, federation: FederationDep
) -> PingResponse:
    _require_member(federation, data.to_agency)
    ids = []
    for seq in range(data.count):
        envelope = await send(
            session,
            federation,
            sender=principal.agency,
            recipient=data.to_agency,
            type=PING,
            body={"seq": seq},
            categories=PROBE if data.probe else None,
        )
        ids.append(envelope.header.id)
    return PingResponse(to_agency=data.to_agency, message_ids=ids)


def _require_member(federation: Federation, agency: str) -> None:
    directory = federation.directory.require()
    if agency not in {m.agency for m in directory.members}:
        raise AccordError(
            f"{agency} is not a member of the federation directory.",
            status=422,
            extra={
                "errors": [
                    {
                        "location": "body.to_agency",
                        "message": "Not a directory member.",
                        "type": "unknown_agency",
                    }
                ]
            },
        )


@router.get("/v1/federation/outbox", summary="Messages this agency sent, and their fate")
async def outbox(
    principal: Reader,
    session: ReadSession,
    status: OutboxStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> OutboxPage:
    """Newest first."""
    found = await repository.outbox_page(
        session, principal.agency, status=status, cursor=cursor, limit=limit
    )
    return OutboxPage(
        items=[OutboxItem.model_validate(row) for row in found.items],
        next_cursor=found.next_cursor,
        limit=limit,
    )


@router.get("/v1/federation/outbox/summary", summary="How many messages are in each state")
async def outbox_summary(principal: Reader, session: ReadSession) -> OutboxSummary:
    counts = dict.fromkeys((s.value for s in OutboxStatus), 0)
    counts.update(await repository.outbox_counts(session, principal.agency))
    return OutboxSummary.model_validate(counts)


@router.get("/v1/federation/inbox", summary="Messages this agency received")
async def inbox(
    principal: Reader,
    session: ReadSession,
    sender: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> InboxPage:
    """Newest first."""
    found = await repository.inbox_page(
        session, principal.agency, sender=sender, cursor=cursor, limit=limit
    )
    return InboxPage(
        items=[InboxItem.model_validate(row) for row in found.items],
        next_cursor=found.next_cursor,
        limit=limit,
    )


@router.get("/v1/federation/incidents", summary="Messages refused or undeliverable")
async def list_incidents(
    principal: Reader, session: ReadSession, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> IncidentPage:
    """Newest first: what this agency's node refused to receive, or could not deliver."""
    found = await repository.incidents_page(session, principal.agency, cursor=cursor, limit=limit)
    return IncidentPage(
        items=[
            IncidentItem(
                id=str(r.id),
                direction=r.direction,
                kind=r.kind,
                peer=r.peer,
                message_id=r.message_id,
                detail=r.detail,
                at=r.at,
            )
            for r in found.items
        ],
        next_cursor=found.next_cursor,
        limit=limit,
    )
