from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from contracts.referrals import DECISION_REF_PATTERN
from kit.http.schemas import Page, RequestModel, ResponseModel
from sop import engine
from sop.engine import HistoryEntry

from .service import JourneyView, acting_agency


class JourneyStart(RequestModel):
    programme_id: uuid.UUID


class OutcomeRequest(RequestModel):
    stage: str = Field(min_length=1, max_length=64)
    outcome: str = Field(min_length=1, max_length=64)
    facts: dict[str, bool | int | float | str | None] = Field(
        default_factory=dict,
        description="Facts established with the outcome, by the names the SOP declares.",
    )
    decision_ref: str | None = Field(
        default=None,
        pattern=DECISION_REF_PATTERN,
        description="Where the stage's outcome is a written decision (a best-interests "
        "determination, a trafficking risk assessment): the decision's reference, e.g. "
        "BID-2025-014. Recorded in the history with who decided (you).",
    )


class Blocker(ResponseModel):
    """Why the current stage's referral could not be drafted: one reason, in words."""

    code: str
    message: str
    category: str | None = None
    missing: list[str] | None = None


class JourneyOut(ResponseModel):
    id: uuid.UUID
    agency: str
    case_id: uuid.UUID
    programme_id: uuid.UUID
    sop: str = Field(examples=["avrr-joint@2.1.0"])
    stage: str
    stage_title: str
    acting_agency: str | None
    acting_role: str | None
    due_at: datetime | None
    ended: bool
    overdue: bool
    allowed_outcomes: list[str]
    referral_id: str | None
    blocked: list[Blocker] | None
    history: list[HistoryEntry]

    @classmethod
    def from_view(cls, view: JourneyView) -> JourneyOut:
        ctx, journey = view.ctx, view.journey
        return cls(
            id=journey.id,
            agency=journey.agency,
            case_id=journey.case_id,
            programme_id=journey.programme_id,
            sop=ctx.state.ref,
            stage=view.stage.id,
            stage_title=view.stage.title,
            acting_agency=acting_agency(ctx),
            acting_role=view.stage.actor,
            due_at=ctx.state.due_at,
            ended=ctx.state.ended,
            overdue=view.overdue,
            allowed_outcomes=list(engine.allowed_outcomes(ctx.definition, ctx.state)),
            referral_id=journey.referral_id,
            blocked=[Blocker.model_validate(b) for b in journey.blocked]
            if journey.blocked
            else None,
            history=list(ctx.state.history),
        )


class JourneyPage(Page[JourneyOut]):
    pass
