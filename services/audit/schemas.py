from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from contracts.audit_chain import Problem, SignedCheckpoint
from kit.http.schemas import Page, ResponseModel

#: Inline in the document: the components name ``Problem`` is the RFC 9457 problem document.
ChainProblem = Annotated[
    Problem,
    WithJsonSchema(
        {
            "type": "string",
            "enum": [p.value for p in Problem],
            "description": "What is wrong with the first bad event.",
        }
    ),
]


class AuditEventOut(ResponseModel):
    """One event. Never personal data: subjects are ids, categories are names."""

    id: uuid.UUID
    agency: str
    seq: int
    at: datetime
    actor: str = Field(description="`user:<id>`, `client:<client_id>` or `node`.")
    action: str
    subject_type: str
    subject_id: str
    case_id: str | None
    referral_id: str | None
    categories: list[str] = Field(description="The data categories disclosed or changed.")
    purpose: str | None
    detail: dict[str, Any]
    break_glass: bool = Field(
        description="A withheld category opened in an emergency (DESIGN §6): review each one."
    )
    prev_hash: str
    hash: str


class AuditPage(Page[AuditEventOut]):
    pass


class ChainHeadOut(ResponseModel):
    seq: int
    hash: str


class BadEvent(ResponseModel):
    seq: int = Field(description="The sequence number of the first event that fails.")
    event_id: uuid.UUID | None = Field(
        description="The stored event at that sequence number, if there is one."
    )
    problem: ChainProblem
    detail: str


class ChainVerification(ResponseModel):
    agency: str
    ok: bool
    checked_at: datetime
    events: int = Field(description="How many events the chain holds.")
    head: ChainHeadOut | None = Field(description="The head the node recorded.")
    checkpoints: int = Field(description="Signed checkpoints whose signatures verify.")
    latest_checkpoint: SignedCheckpoint | None = Field(
        description="The newest of them; keep a copy outside the node to hold it to it later."
    )
    first_bad_event: BadEvent | None
