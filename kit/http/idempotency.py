"""Safe retries: ``Idempotency-Key`` on the API's POSTs (DESIGN §10).

A client that sent a POST and lost the answer (a dropped connection, a timeout) sends it again
with the same ``Idempotency-Key``; it gets the first answer back, with
``Idempotent-Replayed: true``, and nothing happens twice. The key is the client's string, kept
24 hours (``ACCORD_IDEMPOTENCY_KEY_TTL_SECONDS``) per agency and caller (the API client, or the
person), so two callers can never see each other's answers. The same key with another body or
path is a mistake the client must hear about (422 ``idempotency-key-reused``); a repeat that
arrives while the first is still running is told to wait (409 ``idempotency-in-progress``,
``Retry-After``).

How it holds, in three steps:

1. **Claim** (:class:`IdempotencyMiddleware`): before the handler runs, the key is inserted as
   ``pending`` in a short transaction of its own, so a concurrent repeat finds it and is told to
   wait instead of running too (the unique constraint settles a race between two first tries).
2. **Record** (:meth:`Claim.record`): the handler's answer is written into the claim row *in the
   request's own transaction*, just before ``kit.db.session.request_session`` commits it
   (``kit.http.routing.JsonRoute`` hands the response over once the handler has built it, while
   that transaction is still open). The change and its answer commit together or not at all,
   so there is no moment at which a referral exists and its key says "nothing happened": a
   connection dropped after the commit, or a process killed right after it, leaves a key that
   replays the answer. Writing the answer afterwards, in a transaction of its own, would leave
   exactly that window open, and the retry would create a second referral.
3. **Settle** (the middleware, after the app): a refusal (4xx) raised before anything was
   changed is stored in a transaction of its own (a retry gets the same refusal); a 5xx, an
   exception or a cancellation releases the key (deleted, only while still ``pending``: a
   recorded key is never touched), so the retry runs again. A process that dies mid-request
   leaves a ``pending`` key; after ``ACCORD_IDEMPOTENCY_CLAIM_LEASE_SECONDS`` the next repeat
   takes it over, with a new claim token, and the old request, should it still be running, can
   no longer record (its transaction is refused and rolled back).

A kept answer can hold personal data (a case as created) or a secret shown once (a new API
client's secret), so its body is stored sealed under the node master key (AES-256-GCM, the row
as context), never in the clear, and is deleted when the key expires.

Answers to the caller's credentials (401, 403) or rate (429) are not stored: they say nothing
about the request, and a retry with a better token must run. Routes whose work does not commit
through the request session have their answer stored in step 3 instead, which still covers a
dropped connection (the app finishes the request whether or not anyone is listening).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import anyio
import rfc8785
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.at_rest import unwrap_secret, wrap_secret
from kit.db.base import Base, new_id, utcnow
from kit.db.session import Database
from kit.errors import PROBLEM_MEDIA_TYPE, AccordError, PayloadTooLarge

from .middleware import BodyTooLarge
from .openapi import PROBLEM_REF
from .problems import problem_response

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: Printable ASCII (space to tilde), as the IETF draft's examples and Stripe's keys are.
_VALID_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
#: The headers of an answer that belong to it (not to the connection or this request).
_KEPT_HEADERS = frozenset({"content-type", "location", "etag", "www-authenticate"})
#: Answers about the caller's credentials or rate, not about the request: never stored.
_NOT_STORED = frozenset({401, 403, 408, 429})
RETRY_AFTER_SECONDS = 1

#: ``(request, session) -> (agency, caller)`` of a valid bearer token, or None without one
#: (then the request runs as it would without the header and is refused with a 401).
Identify = Callable[[Request, AsyncSession], Awaitable[tuple[str, str] | None]]


class IdempotencyKey(Base):
    """One caller's key: ``pending`` while its first request runs, then ``done`` with the
    answer to replay. ``claim`` is the fencing token of the request that holds it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("agency", "caller", "key"),
        CheckConstraint("state IN ('pending', 'done')", name="state"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    #: ``client:<client_id>`` or ``user:<user id>``: who chose the key.
    caller: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    #: SHA-256 (hex) of method, path and canonical body: what the key was first used for.
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    claim: Mapped[uuid.UUID]
    claimed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[int | None]
    #: ``[[name, value], ...]`` of the answer's own headers (``_KEPT_HEADERS``).
    headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    #: The answer's body, sealed under the master key (:meth:`Claim.seal`).
    body: Mapped[bytes | None] = mapped_column(LargeBinary)


class IdempotencyKeyInvalid(AccordError):
    status = 400
    slug = "idempotency-key-invalid"
    title = "Invalid Idempotency-Key"
    explanation = (
        "The Idempotency-Key header must be 1 to 255 printable ASCII characters (a UUID is a "
        "good choice). Send a new one with each new request, and the same one with its retries."
    )


class IdempotencyKeyReused(AccordError):
    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency-Key reused for another request"
    explanation = (
        "This Idempotency-Key was already used, within the last 24 hours, for a request with "
        "another body or path. Use a new key for a new request; a retry must repeat the first "
        "request exactly."
    )


class IdempotencyInProgress(AccordError):
    status = 409
    slug = "idempotency-in-progress"
    title = "A request with this Idempotency-Key is still running"
    explanation = (
        "The first request with this Idempotency-Key has not finished yet. Retry after the "
        "number of seconds in the Retry-After header; you will then get its answer."
    )


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """SHA-256 of what a request asks: method, path with query, and the body in RFC 8785 form
    when it is JSON (so a retry that re-serializes the same object matches), else its bytes."""
    try:
        canonical = rfc8785.dumps(json.loads(body)) if body else b""
    except (ValueError, rfc8785.CanonicalizationError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), b"?" + query, canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _kept(headers: list[tuple[bytes, bytes]]) -> list[list[str]]:
    return [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in headers
        if name.decode("latin-1").lower() in _KEPT_HEADERS
    ]


@dataclass
class Claim:
    """A key this request holds; what the request's transaction and the middleware need."""

    row_id: uuid.UUID
    token: uuid.UUID
    #: The node master key, which seals the kept answer (``seal``).
    master_key: bytes = field(repr=False, default=b"")
    #: The answer the handler built, handed over by ``JsonRoute`` before the commit.
    response: Response | None = None
    recorded: bool = False

    def seal(self, body: bytes) -> bytes:
        """A kept answer may hold personal data (a case as created) or a secret shown once (a
        new client's secret), so it is stored only under the master key, like every other such
        value at rest; the row id is the context, so it opens on no other row."""
        return wrap_secret(self.master_key, body, _context(self.row_id))

    async def record(self, session: AsyncSession) -> None:
        """Write the handler's answer into the key, in ``session``'s transaction (the one that
        commits the change it answers). Called by ``request_session`` just before it commits."""
        response = self.response
        if response is None or self.recorded or not _storable(response.status_code):
            return
        body = getattr(response, "body", None)
        if not isinstance(body, bytes):
            return  # a streamed answer: stored after it was sent, by the middleware
        result = await session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.id == self.row_id,
                IdempotencyKey.claim == self.token,
                IdempotencyKey.state == "pending",
            )
            .values(
                state="done",
                status=response.status_code,
                headers=_kept(response.raw_headers),
                body=self.seal(body),
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            # Our lease ran out and a retry took the key over: it may be running the same
            # change now, so this one must not commit.
            raise IdempotencyInProgress(
                "This request outlived its hold on the Idempotency-Key and a retry took it "
                "over; nothing was changed by this one.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self.recorded = True


def _storable(status: int) -> bool:
    return status < 500 and status not in _NOT_STORED


def _context(row_id: uuid.UUID) -> bytes:
    return b"accord/idempotency/" + row_id.bytes


@dataclass(frozen=True)
class Replay:
    row_id: uuid.UUID
    status: int
    headers: list[list[str]]
    sealed: bytes

    def body(self, master_key: bytes) -> bytes:
        return unwrap_secret(master_key, self.sealed, _context(self.row_id))


Outcome = Claim | Replay | Literal["in_progress", "reused"]


class IdempotencyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "accord_idempotency_requests",
            "POSTs that carried an Idempotency-Key, by outcome: claimed (ran), replayed, "
            "in_progress (409), reused (422), released (failed; the key is free again).",
            ["outcome"],
            registry=registry,
        )

    def count(self, outcome: str) -> None:
        self.outcomes.labels(outcome=outcome).inc()


@dataclass
class Idempotency:
    """The keys of one node: how long they live, and the clock (tests give their own)."""

    ttl: timedelta
    lease: timedelta
    metrics: IdempotencyMetrics
    clock: Callable[[], datetime] = field(default=utcnow)
    #: How often a claim also deletes the node's expired keys (at most once per interval, per
    #: process): the purge needs no worker of its own, and runs only where keys are made.
    purge_every: timedelta = timedelta(minutes=1)
    _purged_at: datetime | None = field(default=None, init=False, repr=False)

    async def claim(
        self,
        session: AsyncSession,
        *,
        agency: str,
        caller: str,
        key: str,
        fingerprint: str,
        master_key: bytes,
    ) -> Outcome:
        """Take ``key`` for this request, or say why not; ``session``'s transaction is the
        claim's own, committed by the caller before the handler runs."""
        now = self.clock()
        if self._purged_at is None or now - self._purged_at >= self.purge_every:
            self._purged_at = now
            await self.purge(session, now=now)
        for _ in range(2):
            row = (
                await session.scalars(
                    select(IdempotencyKey).where(
                        IdempotencyKey.agency == agency,
                        IdempotencyKey.caller == caller,
                        IdempotencyKey.key == key,
                    )
                )
            ).first()
            if row is None:
                token = new_id()
                fresh = IdempotencyKey(
                    agency=agency,
                    caller=caller,
                    key=key,
                    fingerprint=fingerprint,
                    state="pending",
                    claim=token,
                    claimed_at=now,
                    expires_at=now + self.ttl,
                )
                try:
                    async with session.begin_nested():
                        session.add(fresh)
                except IntegrityError:
                    continue  # a concurrent first try inserted it: read what it holds
                return Claim(fresh.id, token, master_key)
            if row.expires_at <= now:
                return await self._take_over(
                    session, row, now, fingerprint, master_key, expires=True
                )
            if row.fingerprint != fingerprint:
                return "reused"
            if row.state == "done" and row.status is not None and row.body is not None:
                return Replay(row.id, row.status, row.headers or [], row.body)
            if row.claimed_at + self.lease <= now:
                return await self._take_over(
                    session, row, now, fingerprint, master_key, expires=False
                )
            return "in_progress"
        return "in_progress"

    async def _take_over(
        self,
        session: AsyncSession,
        row: IdempotencyKey,
        now: datetime,
        fingerprint: str,
        master_key: bytes,
        *,
        expires: bool,
    ) -> Outcome:
        """An expired key is free again; a pending one whose request died is taken over.
        Compare-and-set on the old claim token: of two retries taking over, one wins."""
        token = new_id()
        values: dict[str, Any] = {"claim": token, "claimed_at": now, "state": "pending"}
        if expires:
            values.update(
                fingerprint=fingerprint, expires_at=now + self.ttl, status=None, headers=None
            )
            values["body"] = None
        result = await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row.id, IdempotencyKey.claim == row.claim)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return "in_progress"
        return Claim(row.id, token, master_key)

    async def store(
        self, session: AsyncSession, claim: Claim, status: int, headers: Any, body: bytes
    ) -> None:
        """The answer of a request that recorded nothing in its own transaction (a refusal
        raised before any change, or a route that commits through sessions of its own)."""
        await session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.id == claim.row_id,
                IdempotencyKey.claim == claim.token,
                IdempotencyKey.state == "pending",
            )
            .values(state="done", status=status, headers=_kept(headers), body=claim.seal(body))
        )

    async def release(self, session: AsyncSession, claim: Claim) -> None:
        """Free the key of a request that failed, so its retry runs. Only while ``pending``
        under this claim: a recorded answer (a committed change) is never released."""
        await session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.id == claim.row_id,
                IdempotencyKey.claim == claim.token,
                IdempotencyKey.state == "pending",
            )
        )

    async def purge(self, session: AsyncSession, *, now: datetime | None = None) -> int:
        """Delete expired keys (from :meth:`claim`, once a minute). Returns how many."""
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or self.clock()))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def count(self, outcome: str) -> None:
        self.metrics.count(outcome)


def hand_over(request: Request, response: Response) -> None:
    """Give the request's claim the answer its handler built, before the request's transaction
    commits (``JsonRoute`` calls this; ``request_session`` then calls :meth:`Claim.record`)."""
    claim = request.scope.get("state", {}).get("idempotency")
    if isinstance(claim, Claim):
        claim.response = response


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise anyio.EndOfStream
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class IdempotencyMiddleware:
    """Claims, replays and settles ``Idempotency-Key`` on POSTs under ``prefixes``; every other
    request passes untouched. Sits inside compression, so what it keeps and replays is the
    plain answer, and inside ``RequestContextMiddleware``, so body limits and request ids
    apply first."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        idempotency: Idempotency,
        identify: Identify,
        prefixes: tuple[str, ...] = ("/v1/",),
    ) -> None:
        self.app = app
        self.idempotency = idempotency
        self.identify = identify
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = None
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith(self.prefixes)
        ):
            key = _header(scope, b"idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.match(key):
            error: AccordError = IdempotencyKeyInvalid(
                "The Idempotency-Key header must be 1 to 255 printable ASCII characters "
                f"(this one has {len(key)}, or characters outside that range).",
                extra={"code": "idempotency_key_invalid"},
            )
            await self._refuse(error, scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except BodyTooLarge as exc:
            await self._refuse(PayloadTooLarge(str(exc.detail)), scope, receive, send)
            return
        except anyio.EndOfStream:
            return  # the client left before sending its body: nothing to answer
        outcome = await self._claim(scope, key, body)
        replay = _replaying(body, receive)
        if outcome is None:
            await self.app(scope, replay, send)
            return
        if isinstance(outcome, Replay):
            self.idempotency.count("replayed")
            headers = dict(outcome.headers)
            headers[REPLAYED_HEADER] = "true"
            body = outcome.body(scope["app"].state.master_key)
            await Response(body, outcome.status, headers=headers)(scope, replay, send)
            return
        if outcome == "reused":
            self.idempotency.count("reused")
            await self._refuse(
                IdempotencyKeyReused(
                    "This Idempotency-Key was used for a request with another body or path. "
                    "Use a new key for a new request.",
                    extra={"code": "idempotency_key_reused"},
                ),
                scope,
                receive,
                send,
            )
            return
        if outcome == "in_progress":
            self.idempotency.count("in_progress")
            await self._refuse(
                IdempotencyInProgress(
                    "The first request with this Idempotency-Key is still running. Retry "
                    "after the number of seconds in Retry-After to get its answer.",
                    extra={"code": "idempotency_in_progress"},
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                ),
                scope,
                receive,
                send,
            )
            return
        await self._run(outcome, scope, replay, send)

    async def _claim(self, scope: Scope, key: str, body: bytes) -> Outcome | None:
        db: Database = scope["app"].state.db
        request = Request(scope)
        async with db.sessions.begin() as session:
            caller = await self.identify(request, session)
            if caller is None:
                return None
            agency, who = caller
            return await self.idempotency.claim(
                session,
                agency=agency,
                caller=who,
                key=key,
                fingerprint=fingerprint(
                    scope["method"], scope["path"], scope.get("query_string", b""), body
                ),
                master_key=scope["app"].state.master_key,
            )

    async def _run(self, claim: Claim, scope: Scope, receive: Receive, send: Send) -> None:
        self.idempotency.count("claimed")
        scope.setdefault("state", {})["idempotency"] = claim
        status: int | None = None
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def send_capturing(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_capturing)
        except BaseException:
            await self._settle(scope, claim, None, [], b"")
            raise
        await self._settle(scope, claim, status, headers, b"".join(chunks))

    async def _settle(
        self,
        scope: Scope,
        claim: Claim,
        status: int | None,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        if claim.recorded and status is not None and _storable(status):
            return
        db: Database = scope["app"].state.db
        # Shielded: a request cancelled mid-way must still free its key.
        with anyio.CancelScope(shield=True):
            async with db.sessions.begin() as session:
                if status is not None and _storable(status):
                    await self.idempotency.store(session, claim, status, headers, body)
                else:
                    self.idempotency.count("released")
                    await self.idempotency.release(session, claim)

    @staticmethod
    async def _refuse(error: AccordError, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        response = problem_response(error.problem(), request_id=request_id, headers=error.headers)
        await response(scope, receive, send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body, read once already, for the app; then whatever the client sends next (its
    disconnect)."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


def document(context: Any, operation: dict[str, Any]) -> None:
    """OpenAPI hook: the header and its answers, on every POST this middleware covers."""
    path = context.path_format or context.path
    if "POST" not in (context.methods or set()) or not path.startswith("/v1/"):
        return
    operation.setdefault("parameters", []).append(
        {
            "name": HEADER,
            "in": "header",
            "required": False,
            "description": "Makes a retry safe: the same key with the same body within 24 hours "
            "returns the first answer (with `Idempotent-Replayed: true`) instead of acting "
            "again. A key is 1 to 255 printable ASCII characters, scoped to the caller.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[ -~]+$"},
        }
    )
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {})[REPLAYED_HEADER] = {
                "description": "`true` when this is the stored answer to an earlier request "
                "with the same Idempotency-Key.",
                "schema": {"type": "string", "enum": ["true"]},
            }
    for status, text in (
        ("400", "The Idempotency-Key header is not 1 to 255 printable ASCII characters."),
        ("409", "A request with the same Idempotency-Key is still running (`Retry-After`)."),
        ("422", "The Idempotency-Key was used for a request with another body or path."),
    ):
        existing = responses.get(status)
        if existing is None:
            responses[status] = {
                "description": text,
                "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}},
            }
        elif text not in existing.get("description", ""):
            existing["description"] = f"{existing.get('description', '')} Or: {text}".strip()
    operation["responses"] = dict(sorted(responses.items()))
