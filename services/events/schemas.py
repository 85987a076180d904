"""What an event may say: ids, statuses and codes, never personal data (DESIGN §8, §10).

The rule is a closed list of keys, each with a shape that cannot hold prose:

- ids (``referral_id``, ``case_id``, ``journey_id``, ``consent_id``, ``agreement_id``,
  ``programme_id``, ``superseded_by``): a token of letters, digits and ``._:-``, as ids travel
  between nodes (a UUIDv7 here);
- agency slugs (``counterpart``, ``by``, ``acting_agency``): ``contracts.agencies``' pattern;
- codes (``status``, ``from_status``, ``direction``, ``stage``, ``from_stage``, ``outcome``,
  ``reason``, and ``reasons``, a list of them): lowercase snake or kebab case, at most 64
  characters, so no sentence, name or free text fits;
- ``version`` (an agreement's) and ``due_at`` (a deadline), which describe the record.

Unknown keys are refused, so a caller cannot slip a decline reason, a fact, a category's
contents or a diversion's triggering facts into the log: all of those stay sealed where they
are. Category names are not carried either; a consumer that needs them reads the referral.
A refused event is a bug in the caller and fails its transaction, state change included.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from contracts.agencies import AGENCY_SLUG_PATTERN

#: ``referral.declined``, ``journey.advanced``: the record's kind, then what happened.
TYPE_PATTERN = r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$"

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Slug = Annotated[str, StringConstraints(pattern=AGENCY_SLUG_PATTERN)]
CODE_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
EventType = Annotated[str, StringConstraints(pattern=TYPE_PATTERN, max_length=64)]


class EventData(BaseModel):
    """An event's ``data``; absent keys are left out when stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    referral_id: Id | None = None
    case_id: Id | None = None
    journey_id: Id | None = None
    consent_id: Id | None = None
    agreement_id: Id | None = None
    programme_id: Id | None = None
    superseded_by: Id | None = None
    version: Annotated[int, Field(ge=1)] | None = None

    counterpart: Slug | None = None
    by: Slug | None = None
    acting_agency: Slug | None = None

    status: Code | None = None
    from_status: Code | None = None
    direction: Code | None = None
    stage: Code | None = None
    from_stage: Code | None = None
    outcome: Code | None = None
    reason: Code | None = None
    reasons: Annotated[list[Code], Field(max_length=20)] | None = None

    due_at: AwareDatetime | None = None


# --- the feed (GET /v1/events) ------------------------------------------------------------


class EventOut(BaseModel):
    """One event, as the feed serves it and as a webhook carries it (``id`` aside)."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The event's id (a UUIDv7); pass the last one back as `after`.")
    type: str = Field(description="`<kind>.<what>`, e.g. `referral.declined`.")
    timestamp: AwareDatetime
    data: dict[str, str | int | list[str]] = Field(
        description="Ids, statuses and codes only; each type's keys are in `webhooks`."
    )


class EventPage(BaseModel):
    """Events oldest first. ``next_cursor`` is the last item's id, or, on an empty page, the
    ``after`` you sent: pass it back as ``after`` and keep polling; it is null only when the
    feed is empty and you sent no ``after``."""

    items: list[EventOut]
    next_cursor: str | None = Field(
        description="Pass back as `after`: the last item's id, or your `after` if none came."
    )
    limit: int = Field(ge=1, description="The most items a page holds (the `limit` asked for).")
