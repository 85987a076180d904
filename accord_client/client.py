"""``AccordClient``: an agency system's typed, asynchronous client of one Accord node.

Every POST carries an ``Idempotency-Key`` made once per call and sent again on each of its
retries (DESIGN §10), so a retry after a lost answer never creates a second case, consent or
referral. Connection errors, 5xx, 429 and "the first request with this key is still running"
(409 ``idempotency_in_progress``) are retried with exponential backoff and jitter, honouring
``Retry-After``; every other problem is raised at once as a typed :class:`AccordProblem`.

The client is asynchronous only (httpx.AsyncClient): agency systems that are synchronous run
it with ``asyncio.run``. Pass ``http=`` to share a connection pool or to reach a node through
another transport (tests use httpx's ASGI transport).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from .auth import Credentials, TokenSource
from .errors import AccordProblem, IdempotencyInProgress, problem_from
from .models import (
    Agreement,
    AgreementSummary,
    Case,
    CaseCreate,
    CaseSummary,
    CompleteRequest,
    Consent,
    ConsentCreate,
    ConsentNarrow,
    ConsentWithdraw,
    DeclineRequest,
    Delivery,
    DeliveryStatus,
    Event,
    EventPage,
    Journey,
    JourneyStart,
    OutcomeRequest,
    Page,
    Referral,
    ReferralCreate,
    ReferralSummary,
    Request,
    Response,
    Webhook,
    WebhookCreate,
    WebhookWithSecret,
)

M = TypeVar("M", bound=Response)
R = TypeVar("R", bound=Request)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: A Retry-After longer than this is not waited for: the problem is raised instead.
MAX_RETRY_AFTER_SECONDS = 60.0


@dataclass(frozen=True)
class Operation:
    """One API operation this client calls: method, path template, and the models of its
    request body and answer. ``OPERATIONS`` lists them all; a test checks each against the
    node's OpenAPI document."""

    method: str
    path: str
    body: type[Request] | None = None
    result: type[BaseModel] | None = None

    def url(self, **params: str) -> str:
        return self.path.format(**{k: _segment(v) for k, v in params.items()})


def _segment(value: str) -> str:
    text = str(value)
    if not text or "/" in text or text in (".", ".."):
        raise ValueError(f"not a valid path segment: {text!r}")
    return text


CREATE_CASE = Operation("POST", "/v1/cases", CaseCreate, CaseSummary)
GET_CASE = Operation("GET", "/v1/cases/{case_id}", None, Case)
LIST_CASES = Operation("GET", "/v1/cases", None, Page[CaseSummary])
PATCH_PROFILE = Operation("PATCH", "/v1/cases/{case_id}/profile", None, CaseSummary)
CREATE_CONSENT = Operation("POST", "/v1/cases/{case_id}/consents", ConsentCreate, Consent)
LIST_CONSENTS = Operation("GET", "/v1/cases/{case_id}/consents", None, Page[Consent])
GET_CONSENT = Operation("GET", "/v1/consents/{consent_id}", None, Consent)
NARROW_CONSENT = Operation("POST", "/v1/consents/{consent_id}/narrow", ConsentNarrow, Consent)
WITHDRAW_CONSENT = Operation("POST", "/v1/consents/{consent_id}/withdraw", ConsentWithdraw, Consent)
CREATE_REFERRAL = Operation("POST", "/v1/referrals", ReferralCreate, Referral)
GET_REFERRAL = Operation("GET", "/v1/referrals/{referral_id}", None, Referral)
LIST_REFERRALS = Operation("GET", "/v1/referrals", None, Page[ReferralSummary])
APPROVE_REFERRAL = Operation("POST", "/v1/referrals/{referral_id}/approve", None, Referral)
ACCEPT_REFERRAL = Operation("POST", "/v1/referrals/{referral_id}/accept", None, Referral)
DECLINE_REFERRAL = Operation(
    "POST", "/v1/referrals/{referral_id}/decline", DeclineRequest, Referral
)
COMPLETE_REFERRAL = Operation(
    "POST", "/v1/referrals/{referral_id}/complete", CompleteRequest, Referral
)
CANCEL_REFERRAL = Operation("POST", "/v1/referrals/{referral_id}/cancel", None, Referral)
GET_AGREEMENT = Operation("GET", "/v1/agreements/{agreement_id}", None, Agreement)
LIST_AGREEMENTS = Operation("GET", "/v1/agreements", None, Page[AgreementSummary])
START_JOURNEY = Operation("POST", "/v1/cases/{case_id}/journeys", JourneyStart, Journey)
GET_JOURNEY = Operation("GET", "/v1/journeys/{journey_id}", None, Journey)
RECORD_OUTCOME = Operation("POST", "/v1/journeys/{journey_id}/outcomes", OutcomeRequest, Journey)
REROUTE_JOURNEY = Operation("POST", "/v1/journeys/{journey_id}/reroute", None, Journey)
LIST_EVENTS = Operation("GET", "/v1/events", None, EventPage)
CREATE_WEBHOOK = Operation("POST", "/v1/webhooks", WebhookCreate, WebhookWithSecret)
LIST_WEBHOOKS = Operation("GET", "/v1/webhooks", None, Page[Webhook])
DELETE_WEBHOOK = Operation("DELETE", "/v1/webhooks/{webhook_id}", None, None)
ROTATE_WEBHOOK_SECRET = Operation(
    "POST", "/v1/webhooks/{webhook_id}/rotate-secret", None, WebhookWithSecret
)
LIST_DELIVERIES = Operation("GET", "/v1/webhooks/{webhook_id}/deliveries", None, Page[Delivery])
REDELIVER = Operation(
    "POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", None, Delivery
)

OPERATIONS: tuple[Operation, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Operation)
)


class AccordClient:
    """A client of one node for one agency system. Use as ``async with AccordClient(...)``,
    or call :meth:`aclose` when done (unless you passed your own ``http``)."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None = None,
        *,
        bearer: str | None = None,
        scope: str | None = None,
        http: httpx.AsyncClient | None = None,
        retries: int = 4,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = 30.0,
    ) -> None:
        if (credentials is None) == (bearer is None):
            raise ValueError("give either credentials or a bearer token")
        self.base_url = base_url.rstrip("/")
        self._owns_http = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout)
        self.tokens = (
            TokenSource(self.http, self.base_url, credentials, scope=scope)
            if credentials is not None
            else None
        )
        self._bearer = bearer
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep

    async def __aenter__(self) -> AccordClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    # --- the transport ------------------------------------------------------------------

    async def _authorization(self) -> str:
        if self.tokens is not None:
            return await self.tokens.bearer()
        return str(self._bearer)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay: float = min(self.backoff_cap, self.backoff_base * 2.0**attempt)
        # Full jitter over the upper half: many clients retrying do not arrive together.
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not a secret
        return max(delay, retry_after or 0.0)

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        """One logical call, retried where that is safe; the last answer, whatever its
        status (a transport error that outlasts the retries is raised)."""
        headers = {"Accept": "application/json"}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        query = {k: v for k, v in (params or {}).items() if v is not None}
        refreshed = False
        attempt = 0
        while True:
            token = await self._authorization()
            try:
                response = await self.http.request(
                    method,
                    f"{self.base_url}{path}",
                    json=json,
                    params=query,
                    headers={**headers, "Authorization": f"Bearer {token}"},
                )
            except httpx.TransportError:
                if attempt >= self.retries:
                    raise
                await self.sleep(self._backoff(attempt, None))
                attempt += 1
                continue
            if response.status_code == 401 and self.tokens is not None and not refreshed:
                # The token was revoked or the node's keys rotated: one new token, once.
                self.tokens.invalidate(token)
                refreshed = True
                continue
            if attempt < self.retries and self._retryable(response):
                retry_after = _retry_after(response)
                if retry_after is None or retry_after <= MAX_RETRY_AFTER_SECONDS:
                    await self.sleep(self._backoff(attempt, retry_after))
                    attempt += 1
                    continue
            return response

    @staticmethod
    def _retryable(response: httpx.Response) -> bool:
        if response.status_code in RETRYABLE_STATUSES:
            return True
        return response.status_code == 409 and isinstance(
            problem_from(response), IdempotencyInProgress
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Any operation, untyped: its JSON answer, or its problem raised."""
        response = await self.send(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise problem_from(response)
        return response.json() if response.content else None

    async def call(
        self,
        operation: Operation,
        body: Request | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        **path: str,
    ) -> Any:
        answer = await self.request(
            operation.method,
            operation.url(**path),
            json=body.body() if body is not None else None,
            params=params,
        )
        if operation.result is None or answer is None:
            return answer
        return operation.result.model_validate(answer)

    # --- cases ----------------------------------------------------------------------------

    async def create_case(self, case: CaseCreate | Mapping[str, Any]) -> CaseSummary:
        result: CaseSummary = await self.call(CREATE_CASE, _as(CaseCreate, case))
        return result

    async def get_case(self, case_id: str) -> Case:
        result: Case = await self.call(GET_CASE, case_id=case_id)
        return result

    async def list_cases(
        self,
        *,
        external_ref: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[CaseSummary]:
        params = {"external_ref": external_ref, "cursor": cursor, "limit": limit}
        result: Page[CaseSummary] = await self.call(LIST_CASES, params=params)
        return result

    async def update_profile(self, case_id: str, facts: Mapping[str, Any]) -> CaseSummary:
        """A JSON merge patch of profile facts (RFC 7396): ``None`` clears a fact."""
        answer = await self.request("PATCH", PATCH_PROFILE.url(case_id=case_id), json=dict(facts))
        return CaseSummary.model_validate(answer)

    # --- consent --------------------------------------------------------------------------

    async def create_consent(
        self, case_id: str, consent: ConsentCreate | Mapping[str, Any]
    ) -> Consent:
        result: Consent = await self.call(
            CREATE_CONSENT, _as(ConsentCreate, consent), case_id=case_id
        )
        return result

    async def get_consent(self, consent_id: str) -> Consent:
        result: Consent = await self.call(GET_CONSENT, consent_id=consent_id)
        return result

    async def list_consents(
        self, case_id: str, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Consent]:
        result: Page[Consent] = await self.call(
            LIST_CONSENTS, params={"cursor": cursor, "limit": limit}, case_id=case_id
        )
        return result

    async def narrow_consent(
        self, consent_id: str, narrowed: ConsentNarrow | Mapping[str, Any]
    ) -> Consent:
        result: Consent = await self.call(
            NARROW_CONSENT, _as(ConsentNarrow, narrowed), consent_id=consent_id
        )
        return result

    async def withdraw_consent(self, consent_id: str, *, reason: str | None = None) -> Consent:
        """Withdraw (AVRR principle ii): every referral under it is revoked and erased."""
        result: Consent = await self.call(
            WITHDRAW_CONSENT, ConsentWithdraw(reason=reason), consent_id=consent_id
        )
        return result

    # --- referrals ------------------------------------------------------------------------

    async def create_referral(self, referral: ReferralCreate | Mapping[str, Any]) -> Referral:
        result: Referral = await self.call(CREATE_REFERRAL, _as(ReferralCreate, referral))
        return result

    async def get_referral(self, referral_id: str) -> Referral:
        result: Referral = await self.call(GET_REFERRAL, referral_id=referral_id)
        return result

    async def list_referrals(
        self,
        *,
        direction: str | None = None,
        status: str | None = None,
        stage: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[ReferralSummary]:
        params = {
            "direction": direction,
            "status": status,
            "stage": stage,
            "cursor": cursor,
            "limit": limit,
        }
        result: Page[ReferralSummary] = await self.call(LIST_REFERRALS, params=params)
        return result

    async def approve_referral(self, referral_id: str) -> Referral:
        result: Referral = await self.call(APPROVE_REFERRAL, referral_id=referral_id)
        return result

    async def accept_referral(self, referral_id: str) -> Referral:
        result: Referral = await self.call(ACCEPT_REFERRAL, referral_id=referral_id)
        return result

    async def decline_referral(self, referral_id: str, *, reason: str) -> Referral:
        result: Referral = await self.call(
            DECLINE_REFERRAL, DeclineRequest(reason=reason), referral_id=referral_id
        )
        return result

    async def complete_referral(
        self,
        referral_id: str,
        *,
        outcome: str,
        decision_ref: str | None = None,
        results: Mapping[str, Any] | None = None,
    ) -> Referral:
        body = CompleteRequest(
            outcome=outcome, decision_ref=decision_ref, results=dict(results) if results else None
        )
        result: Referral = await self.call(COMPLETE_REFERRAL, body, referral_id=referral_id)
        return result

    async def cancel_referral(self, referral_id: str) -> Referral:
        result: Referral = await self.call(CANCEL_REFERRAL, referral_id=referral_id)
        return result

    # --- agreements -----------------------------------------------------------------------

    async def get_agreement(self, agreement_id: str) -> Agreement:
        result: Agreement = await self.call(GET_AGREEMENT, agreement_id=agreement_id)
        return result

    async def list_agreements(
        self,
        *,
        party: str | None = None,
        status: str | None = None,
        purpose: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[AgreementSummary]:
        params = {
            "party": party,
            "status": status,
            "purpose": purpose,
            "cursor": cursor,
            "limit": limit,
        }
        result: Page[AgreementSummary] = await self.call(LIST_AGREEMENTS, params=params)
        return result

    # --- journeys -------------------------------------------------------------------------

    async def start_journey(self, case_id: str, *, programme_id: str) -> Journey:
        result: Journey = await self.call(
            START_JOURNEY, JourneyStart(programme_id=programme_id), case_id=case_id
        )
        return result

    async def get_journey(self, journey_id: str) -> Journey:
        result: Journey = await self.call(GET_JOURNEY, journey_id=journey_id)
        return result

    async def record_outcome(
        self, journey_id: str, outcome: OutcomeRequest | Mapping[str, Any]
    ) -> Journey:
        result: Journey = await self.call(
            RECORD_OUTCOME, _as(OutcomeRequest, outcome), journey_id=journey_id
        )
        return result

    async def reroute_journey(self, journey_id: str) -> Journey:
        result: Journey = await self.call(REROUTE_JOURNEY, journey_id=journey_id)
        return result

    # --- events ---------------------------------------------------------------------------

    async def list_events(
        self,
        *,
        after: str | None = None,
        types: list[str] | None = None,
        limit: int | None = None,
    ) -> EventPage:
        params = {"after": after, "types": ",".join(types) if types else None, "limit": limit}
        result: EventPage = await self.call(LIST_EVENTS, params=params)
        return result

    async def follow_events(
        self,
        *,
        after: str | None = None,
        types: list[str] | None = None,
        poll_seconds: float = 5.0,
        stop_when_caught_up: bool = False,
    ) -> AsyncIterator[tuple[Event, str]]:
        """Every event after ``after``, in order, then each new one as it happens. Yields
        ``(event, cursor)``: store the cursor once the event is handled, and resume from it
        after a restart; nothing is skipped and nothing before it is repeated."""
        cursor = after
        while True:
            page = await self.list_events(after=cursor, types=types)
            for index, event in enumerate(page.items):
                last = index == len(page.items) - 1
                position = page.next_cursor if last and page.next_cursor else event.id
                yield event, position
            if page.items:
                cursor = page.next_cursor or page.items[-1].id
                continue
            if stop_when_caught_up:
                return
            await self.sleep(poll_seconds)

    # --- webhooks -------------------------------------------------------------------------

    async def create_webhook(self, url: str, *, event_types: list[str]) -> WebhookWithSecret:
        """Subscribe ``url`` to ``event_types``; the answer's ``secret`` (``whsec_…``) is
        shown only here."""
        result: WebhookWithSecret = await self.call(
            CREATE_WEBHOOK, WebhookCreate(url=url, event_types=event_types)
        )
        return result

    async def list_webhooks(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Webhook]:
        result: Page[Webhook] = await self.call(
            LIST_WEBHOOKS, params={"cursor": cursor, "limit": limit}
        )
        return result

    async def delete_webhook(self, webhook_id: str) -> None:
        """Unsubscribe: nothing more is sent, pending deliveries are cancelled."""
        await self.call(DELETE_WEBHOOK, webhook_id=webhook_id)

    async def rotate_webhook_secret(self, webhook_id: str) -> WebhookWithSecret:
        """A new secret, shown only in this answer; the old one also signs until
        ``previous_secret_until``."""
        result: WebhookWithSecret = await self.call(ROTATE_WEBHOOK_SECRET, webhook_id=webhook_id)
        return result

    async def list_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Page[Delivery]:
        """A webhook's deliveries, newest first, e.g. ``status="failed"``."""
        result: Page[Delivery] = await self.call(
            LIST_DELIVERIES,
            params={"status": status, "cursor": cursor, "limit": limit},
            webhook_id=webhook_id,
        )
        return result

    async def redeliver(self, webhook_id: str, delivery_id: str) -> Delivery:
        """Send a failed delivery again (same ``webhook-id``), retried afresh for 24 hours."""
        result: Delivery = await self.call(
            REDELIVER, webhook_id=webhook_id, delivery_id=delivery_id
        )
        return result


async def pages(fetch: Callable[..., Awaitable[Page[M]]], /, **params: Any) -> AsyncIterator[M]:
    """Every item of a list, page after page: ``async for r in pages(client.list_referrals,
    direction="incoming")``."""
    cursor: str | None = None
    while True:
        page = await fetch(**params, cursor=cursor)
        for item in page.items:
            yield item
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _as(model: type[R], value: R | Mapping[str, Any]) -> R:
    return value if isinstance(value, model) else model.model_validate(value)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


__all__ = ["OPERATIONS", "AccordClient", "AccordProblem", "Operation", "pages"]
