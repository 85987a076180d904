"""Request and response bodies of the consent routes.

``POST /v1/cases/{case_id}/consents`` is checked by :func:`contracts.consent.validate_consent`
(every fault at once, the rules for a child included), so the endpoint receives it
unvalidated and :class:`ConsentCreate` only describes it in the OpenAPI document.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from contracts.agencies import AgencySlug
from contracts.agreements import PurposeSlug
from contracts.categories import Category, Text
from contracts.consent import ChildViews, ConsentMethod, ConsentStatus, ConsentTerms, GivenBy
from kit.http.schemas import Page, RequestModel, ResponseModel


class ConsentCreate(ConsentTerms):
    supersedes: uuid.UUID | None = Field(
        None,
        description="The consent of the same case this one replaces (wider, narrower or "
        "renewed). The old one is kept, marked superseded; a withdrawn one cannot be replaced.",
    )


class ConsentNarrow(RequestModel):
    """What the person takes back; everything else the consent covers stands."""

    recipients: list[AgencySlug] = Field(default_factory=list, max_length=50)
    purposes: list[PurposeSlug] = Field(default_factory=list, max_length=50)
    categories: list[Category] = Field(default_factory=list, max_length=20)


class ConsentWithdraw(RequestModel):
    reason: Text | None = Field(
        None,
        description="Optional: the person need not give one (AVRR principle ii). Sealed at rest.",
    )


class ConsentOut(ResponseModel):
    """A consent's terms and lifecycle; the child's own words are only in :class:`ConsentDetail`."""

    id: uuid.UUID
    agency: str
    case_id: uuid.UUID
    status: ConsentStatus = Field(
        description="As of now: `expired` from `valid_until` on, unless withdrawn or superseded."
    )
    purposes: list[str]
    recipients: list[str]
    categories: list[Category]
    given_by: GivenBy
    method: ConsentMethod
    child_views_recorded: bool
    valid_until: datetime
    evidence_ref: str | None
    given_at: datetime
    supersedes: uuid.UUID | None
    superseded_by: uuid.UUID | None
    superseded_at: datetime | None
    withdrawn_at: datetime | None


class ConsentDetail(ConsentOut):
    child_views: ChildViews | None
    withdrawal_reason: str | None


class ConsentPage(Page[ConsentOut]):
    pass
