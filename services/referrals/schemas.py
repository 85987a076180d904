from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.agencies import AgencySlug
from contracts.agreements import AgreementRef
from contracts.categories import Category, CategoryData
from contracts.envelope import EnvelopeEvidence, SignedReceipt
from contracts.referrals import DECISION_REF_PATTERN, ReferralStatus
from kit.http.schemas import Page, RequestModel, ResponseModel

from .models import Referral


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
    decision_ref: str | None = Field(
        default=None,
        pattern=DECISION_REF_PATTERN,
        description="For a stage whose outcome is a written decision (a best-interests "
        "determination, a trafficking risk assessment): the decision's reference, e.g. "
        "BID-2025-014. Sent beside the outcome, so a reference only, never its content.",
    )
    results: CategoryData = Field(
        default_factory=CategoryData,
        description="Result categories sealed back to the sender (the agreement must allow), "
        "each in its category's schema.",
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
    receipt: SignedReceipt | None
    overdue: bool


class HistoryItem(ResponseModel):
    at: datetime
    status: ReferralStatus
    by: str
    detail: str | None = None


class ReferralSummary(ResponseModel):
    id: str
    direction: Literal["outgoing", "incoming"]
    agency: str
    counterpart: str
    status: ReferralStatus
    purpose: str
    stage: str | None
    categories: list[Category]
    respond_by: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Referral) -> ReferralSummary:
        return cls(
            id=row.referral_id,
            direction=row.direction,
            agency=row.agency,
            counterpart=row.counterpart,
            status=ReferralStatus(row.status),
            purpose=row.purpose,
            stage=row.stage,
            categories=[Category(c) for c in row.categories],
            respond_by=row.respond_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class ReferralOut(ReferralSummary):
    agreement: AgreementRef
    consent_id: str | None
    case_id: str | None
    journey_id: str | None
    outcome: str | None
    history: list[HistoryItem]
    data: CategoryData = Field(description="The categories your data roles open.")
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


class ReferralPage(Page[ReferralSummary]):
    pass


class GrantOut(ResponseModel):
    category: Category
    granted_at: datetime
    expires_at: datetime


class EvidenceOut(ResponseModel):
    """What proves what was sent, when, under which agreement and consent (DESIGN §8): the
    signed envelope without its sealed content, and every receipt held for it."""

    envelope: EnvelopeEvidence
    receipts: list[SignedReceipt]


ErasureState = Literal["pending", "overdue", "confirmed"]


class ErasureItem(ResponseModel):
    referral_id: str
    agency: str
    recipient: str
    agreement_id: str
    state: ErasureState
    requested_at: datetime | None
    due_at: datetime | None
    erased_at: datetime | None
    receipt: SignedReceipt | None


class ErasurePage(Page[ErasureItem]):
    pass
