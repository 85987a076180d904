"""Request and response models of the Accord API, as an agency system uses them.

Responses keep fields this client does not know yet (a newer node may add some: they are in
``model_extra``); requests forbid unknown ones, as the node does.
``tests/accord_client/test_openapi_agreement.py`` checks every model here against the node's
own OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

ReferralStatus = Literal[
    "pending_approval",
    "approved",
    "sent",
    "received",
    "accepted",
    "declined",
    "completed",
    "cancelled",
    "revoked",
    "expired",
    "rejected",
    "refused_by_recipient",
]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="allow")


T = TypeVar("T", bound=Response)


class Page(Response, Generic[T]):
    """One page of a list, newest first; pass ``next_cursor`` back as ``cursor``."""

    items: list[T]
    next_cursor: str | None = None
    limit: int | None = None


# --- cases ----------------------------------------------------------------------------------


class CaseCreate(Request):
    external_ref: str
    profile: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)


class CaseSummary(Response):
    id: str
    agency: str
    external_ref: str
    created_at: datetime
    updated_at: datetime


class Case(CaseSummary):
    """A case as the caller may read it: ``data`` holds the categories its data roles open,
    ``withheld`` names the others and why."""

    profile: dict[str, Any] = Field(default_factory=dict)
    profile_withheld: list[dict[str, Any]] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    withheld: list[dict[str, Any]] = Field(default_factory=list)


# --- consent --------------------------------------------------------------------------------


class ChildViews(Request):
    position: str
    summary: str
    heard_on: str
    heard_by: str
    language: str | None = None
    interpreter_used: bool | None = None


class ConsentCreate(Request):
    purposes: list[str]
    recipients: list[str]
    categories: list[str]
    given_by: str
    method: str
    valid_until: datetime
    child_views: ChildViews | None = None
    evidence_ref: str | None = None
    supersedes: str | None = None


class ConsentNarrow(Request):
    """What the person takes back; everything else the consent covers stands."""

    recipients: list[str] | None = None
    purposes: list[str] | None = None
    categories: list[str] | None = None


class ConsentWithdraw(Request):
    reason: str | None = None


class Consent(Response):
    id: str
    agency: str
    case_id: str
    status: str
    purposes: list[str]
    recipients: list[str]
    categories: list[str]
    given_by: str
    method: str
    valid_until: datetime
    given_at: datetime
    evidence_ref: str | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    withdrawn_at: datetime | None = None


# --- referrals ------------------------------------------------------------------------------


class ReferralCreate(Request):
    case_id: str
    to_agency: str
    purpose: str
    agreement_id: str
    categories: list[str]
    consent_id: str | None = None
    note: str | None = None
    respond_by: datetime | None = None


class DeclineRequest(Request):
    reason: str


class CompleteRequest(Request):
    outcome: str
    decision_ref: str | None = None
    results: dict[str, Any] | None = None


class ReferralSummary(Response):
    id: str
    direction: Literal["outgoing", "incoming"]
    agency: str
    counterpart: str
    status: ReferralStatus
    purpose: str
    stage: str | None = None
    categories: list[str]
    respond_by: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Referral(ReferralSummary):
    """A referral with its history, the categories the caller may read (``data``), those it
    may not (``withheld``), and where its erasure stands."""

    agreement: dict[str, Any]
    consent_id: str | None = None
    case_id: str | None = None
    journey_id: str | None = None
    outcome: str | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    withheld: list[dict[str, Any]] = Field(default_factory=list)
    erasure: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None
    decline_reason: str | None = None
    refusal: list[dict[str, Any]] | None = None


# --- agreements -----------------------------------------------------------------------------


class AgreementSummary(Response):
    id: str
    version: int
    title: str
    status: str
    parties: list[str]
    purposes: list[str]
    digest: str


class Agreement(AgreementSummary):
    canonical: dict[str, Any]
    unsigned_parties: list[str] = Field(default_factory=list)
    signatures: list[dict[str, Any]] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)


# --- journeys -------------------------------------------------------------------------------


class JourneyStart(Request):
    programme_id: str


class OutcomeRequest(Request):
    stage: str
    outcome: str
    facts: dict[str, bool | int | float | str | None] = Field(default_factory=dict)
    decision_ref: str | None = None


class Journey(Response):
    """Where a person's case stands in its SOP, and who acts next."""

    id: str
    agency: str
    case_id: str
    programme_id: str
    sop: str
    stage: str
    stage_title: str | None = None
    acting_agency: str | None = None
    acting_role: str | None = None
    due_at: datetime | None = None
    ended: bool
    overdue: bool = False
    referral_id: str | None = None
    allowed_outcomes: list[str] = Field(default_factory=list)
    needs_attention: list[dict[str, Any]] | None = None
    blocked: list[dict[str, Any]] | None = None
    next_steps: list[str] = Field(default_factory=list)
    history: list[dict[str, Any]] = Field(default_factory=list)


# --- events and webhooks (DESIGN §10) -------------------------------------------------------


class Event(Response):
    """One change, named by ``type``; ``data`` holds ids and statuses only, never personal
    data."""

    id: str
    type: str
    timestamp: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class EventPage(Response):
    """Events oldest first; ``next_cursor`` is the last one's id, or on an empty page the
    ``after`` that was sent."""

    items: list[Event]
    next_cursor: str | None = None
    limit: int | None = None


DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]


class WebhookCreate(Request):
    url: str
    event_types: list[str]


class Webhook(Response):
    """A subscription of the agency's events (never its secret). ``previous_secret_until``,
    after a rotation: until then deliveries also carry a signature with the secret before."""

    id: str
    agency: str
    url: str
    event_types: list[str]
    created_at: datetime
    previous_secret_until: datetime | None = None


class WebhookWithSecret(Webhook):
    """The answer that creates a webhook or rotates its secret: the only one with ``secret``
    (``whsec_<base64>``); keep it now."""

    secret: str


class Delivery(Response):
    """One event sent to one webhook; ``id`` is its ``webhook-id`` header on every attempt.
    ``last_error`` is a code (``http_503``, ``timeout``, ``connect_error``, …)."""

    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = None
    retry_until: datetime
    last_status: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime
