"""Request and response bodies of ``/v1/agreements``.

The terms of an agreement are declared with :class:`contracts.agreements.AgreementTerms`, the
model every party signs, while the endpoints hand the raw body to
:func:`contracts.agreements.validate_terms`, which reports every fault at once with its code
(``sender_not_party``, ``data_roles_missing``, ...) rather than stopping at the first.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from contracts.agreements import (
    AgreementRef,
    AgreementStatus,
    Encryption,
    HistoryEntry,
    LegalBasis,
)
from contracts.categories import Category
from contracts.policy import ReasonCode
from kit.http.schemas import Page, RequestModel, ResponseModel

Rfc3339 = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 in UTC with `Z`, exactly as signed.",
    ),
]


class SignRequest(RequestModel):
    digest: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="The digest of the canonical text you reviewed (from GET); a signature is "
        "refused unless it is the current text's.",
    )


class ReasonRequest(RequestModel):
    reason: str = Field(min_length=1, max_length=2000)


class CanonicalCategory(ResponseModel):
    """One category's terms in the signed text: sorted sets of agency slugs and data roles."""

    model_config = ConfigDict(extra="forbid")

    senders: list[str]
    recipients: list[str]
    data_roles: list[str]


class CanonicalTerms(ResponseModel):
    """The signed text (DESIGN §5): every term, defaults included, lists as sorted sets, times
    as RFC 3339 UTC strings; ``digest`` is the SHA-256 of its RFC 8785 form, so it is served
    exactly as signed: ``supersedes`` is absent, not null, on a first version."""

    # A member the model does not know would be a member clients cannot see yet sign over.
    model_config = ConfigDict(extra="forbid")

    title: str
    parties: list[str]
    purposes: list[str]
    categories: dict[Category, CanonicalCategory]
    legal_basis: LegalBasis
    retention_days: int
    onward_sharing: bool
    valid_from: Rfc3339
    valid_until: Rfc3339
    encryption: Encryption
    erasure_deadline_hours: int
    break_glass: bool
    break_glass_hours: int
    agreement: AgreementRef
    supersedes: AgreementRef | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="The version this amendment supersedes; absent on a first version.",
    )


class SignatureCheck(ResponseModel):
    """A party's signature over the current text, and whether it verifies against the key the
    directory publishes for its agency."""

    agency: str
    kid: str
    alg: str = Field(description="Always `EdDSA` (Ed25519).")
    value: str = Field(description="base64url without padding, over the RFC 8785 form.")
    verified: bool
    signed_at: Rfc3339


class AgreementWarning(ResponseModel):
    """Something a node would refuse to draft today in terms it holds (DESIGN §9): the
    agreement keeps working as signed; an amendment fixes it."""

    code: str = Field(description="Stable code, e.g. `data_roles_missing`.")
    category: Category
    message: str


_WARNINGS_DESCRIPTION = (
    "Empty for terms drafted under today's rules; e.g. a category signed without named data "
    "roles, which every user at its recipients who reads referrals may read."
)


class AgreementOut(ResponseModel):
    id: str
    version: int
    title: str
    status: AgreementStatus = Field(
        description="As of now: `expired` after `valid_until`, `not_yet_valid` when signed "
        "by all before `valid_from`."
    )
    stored_status: AgreementStatus
    parties: list[str]
    purposes: list[str]
    canonical: CanonicalTerms
    digest: str = Field(description="Hex SHA-256 of the RFC 8785 form of `canonical`.")
    signatures: list[SignatureCheck]
    unsigned_parties: list[str]
    supersedes: AgreementRef | None
    superseded_by: AgreementRef | None
    suspended_by: list[str]
    history: list[HistoryEntry]
    warnings: list[AgreementWarning] = Field(
        default_factory=list, description=_WARNINGS_DESCRIPTION
    )


class AgreementSummary(ResponseModel):
    id: str
    version: int
    title: str
    status: AgreementStatus
    parties: list[str]
    purposes: list[str]
    digest: str
    warnings: list[AgreementWarning] = Field(
        default_factory=list, description=_WARNINGS_DESCRIPTION
    )


class AgreementPage(Page[AgreementSummary]):
    pass


class DecisionRequest(RequestModel):
    """A dry run of the policy decision: would this disclosure be allowed now, and if not, why."""

    recipient: str = Field(max_length=64)
    purpose: str = Field(max_length=64)
    categories: list[str] = Field(min_length=1, max_length=64)
    consent_id: str | None = Field(None, max_length=64)


class DecisionReason(ResponseModel):
    code: ReasonCode
    message: str
    category: str | None = Field(
        description="The category concerned, as asked (it may be one outside the vocabulary)."
    )


class DecisionOut(ResponseModel):
    allowed: bool
    categories_allowed: list[Category]
    reasons: list[DecisionReason]
