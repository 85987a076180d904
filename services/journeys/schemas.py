from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from contracts.referrals import DECISION_REF_PATTERN
from kit.http.schemas import Page, RequestModel, ResponseModel
from sop import engine
from sop.engine import HistoryEntry

from .service import JourneyView, acting_agency, next_steps


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
    """Why the journey needs attention: one reason, in words, and the agency that must act."""

    code: str
    message: str
    who: str | None = Field(
        default=None, description="The agency that must act (the case's owner, as a rule)."
    )
    category: str | None = None
    missing: list[str] | None = None
    referral_id: str | None = None
    consent_id: str | None = None


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
    needs_attention: list[Blocker] | None = Field(
        description="Why the journey cannot go on by itself, each reason naming who must act; "
        "null while it waits for the acting agency or has ended."
    )
    next_steps: list[str] = Field(
        description="What the owner may do now: `redraft`, `reroute` (to the next alternate "
        "the programme binds), `record:<outcome>` (an outcome the SOP lets the owner record)."
    )
    blocked: list[Blocker] | None = Field(
        description="Deprecated: the same list as `needs_attention`, kept for existing clients."
    )
    history: list[HistoryEntry]

    @classmethod
    def from_view(cls, view: JourneyView) -> JourneyOut:
        ctx, journey = view.ctx, view.journey
        attention = (
            [Blocker.model_validate(b) for b in journey.blocked] if journey.blocked else None
        )
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
            needs_attention=attention,
            next_steps=next_steps(ctx),
            blocked=attention,
            history=list(ctx.state.history),
        )


class JourneyPage(Page[JourneyOut]):
    pass
