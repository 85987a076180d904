from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from contracts.agencies import AgencySlug
from contracts.categories import Category
from kit.http.schemas import RequestModel, ResponseModel


class ReferralCreate(RequestModel):
    case_id: uuid.UUID
    to_agency: AgencySlug
    purpose: str = Field(min_length=1, max_length=64)
    agreement_id: str = Field(min_length=1, max_length=64)
    consent_id: uuid.UUID | None = Field(
        None, description="Required unless the agreement's legal basis is not consent."
    )
    categories: list[Category] = Field(min_length=1)
    note: str | None = Field(
        None,
        max_length=2000,
        description="For the approver at your agency; sealed, and never sent to the recipient.",
    )
    respond_by: datetime | None = None


class DeclineRequest(RequestModel):
    reason: str = Field(min_length=1, max_length=500)


class CompleteRequest(RequestModel):
    outcome: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    results: dict[Category, dict[str, Any]] = Field(
        default_factory=dict,
        description="Result categories sealed back to the sender (the agreement must allow).",
    )


class BreakGlassRequest(RequestModel):
    category: Category
    reason: str = Field(min_length=10, max_length=2000)


class Withheld(ResponseModel):
    category: str
    code: str
    reason: str


class RefusalOut(ResponseModel):
    code: str
    message: str


class ErasureOut(ResponseModel):
    requested_at: datetime | None
    due_at: datetime | None
    erased_at: datetime | None
    reason: str | None
    receipt: dict[str, Any] | None
    overdue: bool


class ReferralSummary(ResponseModel):
    id: str
    direction: Literal["outgoing", "incoming"]
    agency: str
    counterpart: str
    status: str
    purpose: str
    stage: str | None
    categories: list[str]
    respond_by: datetime | None
    created_at: datetime
    updated_at: datetime


class ReferralOut(ReferralSummary):
    agreement: dict[str, Any]
    consent_id: str | None
    case_id: str | None
    journey_id: str | None
    outcome: str | None
    history: list[dict[str, Any]]
    data: dict[str, dict[str, Any]]
    withheld: list[Withheld]
    erasure: ErasureOut
    note: str | None = None
    decline_reason: str | None = Field(
        None,
        description="Why the recipient declined: sealed in transit and at rest, and erased "
        "with the referral's content.",
    )
    refusal: list[RefusalOut] | None = Field(
        None,
        description="Status `refused_by_recipient`: every reason of the recipient's signed "
        "refusal receipt (the receipt itself is in the evidence).",
    )


class ReferralPage(ResponseModel):
    items: list[ReferralSummary]
    next_cursor: str | None
