from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AliasChoices, ConfigDict, Field

from contracts.agencies import AgencySlug
from contracts.directory import MemberKind
from contracts.envelope import SignatureBlock, SignedReceipt
from kit.http.schemas import Page, PublicJwk, RequestModel, ResponseModel


class OutboxStatus(StrEnum):
    """Where a sent message stands (``services.federation.outbox``)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    #: The recipient verified it and refused its content, with a signed receipt.
    REFUSED = "refused"
    #: The recipient's node refused it for good (not a member, bad signature, ...).
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class BatchProblem(ResponseModel):
    """An envelope of a batch refused before any receipt could be signed for it: the RFC 9457
    problem document the same envelope would have got alone."""

    type: str
    title: str
    status: int
    detail: str
    retryable: bool


class BatchReceipts(ResponseModel):
    """The answer to ``POST /federation/v1/batches``, one entry per envelope, in order."""

    receipts: list[SignedReceipt | BatchProblem] = Field(
        description="The signed receipt, or the problem document a single message would get."
    )


class PingRequest(RequestModel):
    # One name per concept: a referral's recipient is ``to_agency``, and so is a ping's.
    # ``to``, the name this field had first, is still accepted.
    to_agency: AgencySlug = Field(
        validation_alias=AliasChoices("to_agency", "to"),
        description="The agency to ping (`to` is accepted as an older name for it).",
    )
    count: int = Field(1, ge=1, le=1000)
    probe: bool = Field(
        False, description="Seal fixed, non-personal probe content the recipient must open."
    )


class PingResponse(ResponseModel):
    to_agency: str
    message_ids: list[str]


class OutboxItem(ResponseModel):
    message_id: str
    sender: str
    recipient: str
    type: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    receipt: SignedReceipt | None = Field(
        description="The recipient's signed receipt, once delivered or refused."
    )


class OutboxPage(Page[OutboxItem]):
    pass


class OutboxSummary(ResponseModel):
    """How many of this agency's sent messages are in each state."""

    pending: int
    delivered: int
    refused: int
    rejected: int
    cancelled: int


class InboxItem(ResponseModel):
    message_id: str
    sender: str
    recipient: str
    type: str
    received_at: datetime
    position: int


class InboxPage(Page[InboxItem]):
    pass


class IncidentItem(ResponseModel):
    id: str
    direction: Literal["in", "out"]
    kind: str = Field(description="The problem slug, e.g. `bad-signature`.")
    peer: str | None
    message_id: str | None
    detail: str
    at: datetime


class IncidentPage(Page[IncidentItem]):
    pass


class DirectoryStatus(ResponseModel):
    configured: bool
    version: int | None
    federation: str | None
    last_error: str | None
    changed: bool = False


# --- the directory as served (DESIGN §4) ---------------------------------------------------
# Documentation of the signed document, which GET /v1/directory serves byte for byte as held.


class MemberJwks(ResponseModel):
    keys: list[PublicJwk]


class MemberOut(ResponseModel):
    model_config = ConfigDict(extra="forbid")

    agency: str
    name: str
    kind: MemberKind
    node_url: str
    jwks: MemberJwks


class DirectoryOut(ResponseModel):
    """The federation directory, signed by the federation's root key over its RFC 8785 form
    without ``signature``."""

    model_config = ConfigDict(extra="forbid")

    federation: str
    version: int
    issued_at: str = Field(json_schema_extra={"format": "date-time"})
    members: list[MemberOut]
    signature: SignatureBlock
