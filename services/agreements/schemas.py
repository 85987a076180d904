from __future__ import annotations

from typing import Any

from pydantic import Field

from kit.http.schemas import RequestModel, ResponseModel


class SignRequest(RequestModel):
    digest: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="The digest of the canonical text you reviewed (from GET); a signature is "
        "refused unless it is the current text's.",
    )


class ReasonRequest(RequestModel):
    reason: str = Field(min_length=1, max_length=2000)


class AgreementOut(ResponseModel):
    id: str
    version: int
    title: str
    status: str
    stored_status: str
    parties: list[str]
    purposes: list[str]
    canonical: dict[str, Any]
    digest: str
    signatures: list[dict[str, Any]]
    unsigned_parties: list[str]
    supersedes: dict[str, Any] | None
    superseded_by: dict[str, Any] | None
    suspended_by: list[str]
    history: list[dict[str, Any]]


class AgreementSummary(ResponseModel):
    id: str
    version: int
    title: str
    status: str
    parties: list[str]
    purposes: list[str]
    digest: str


class DecisionRequest(RequestModel):
    """A dry run of the policy decision: would this disclosure be allowed now, and if not, why."""

    recipient: str
    purpose: str
    categories: list[str] = Field(min_length=1)
    consent_id: str | None = None


class DecisionOut(ResponseModel):
    allowed: bool
    categories_allowed: list[str]
    reasons: list[dict[str, Any]]
