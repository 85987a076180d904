"""Request and response bodies of ``/v1/households``.

``POST /v1/households`` is checked by ``contracts.family`` rather than by FastAPI, so that every
fault of a household (a member that does not parse, a case listed twice, a case unknown to the
agency, a relationship with no counterpart) comes back in one problem. The model here
describes the body in the OpenAPI document; the endpoint receives it unvalidated.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from contracts.family import Relationship
from kit.http.schemas import RequestModel, ResponseModel

RELATIONSHIPS = (
    "The member's role in the household: every `parent` cares for every `child`, every "
    "`guardian` for every `ward` (a child needs a parent in the household, a ward a guardian, "
    "and the reverse); `spouse`, `sibling` and `other` bind no departure."
)


class MemberIn(RequestModel):
    case_id: uuid.UUID = Field(description="A case of your agency.")
    relationship: Relationship = Field(description=RELATIONSHIPS)


class HouseholdCreate(RequestModel):
    members: list[MemberIn] = Field(min_length=2, description="At least two cases, each once.")


class MemberOut(ResponseModel):
    case_id: uuid.UUID
    relationship: Relationship


class HouseholdOut(ResponseModel):
    """A household: case ids and relationships, nothing personal."""

    id: uuid.UUID
    agency: str
    members: list[MemberOut]
    created_at: datetime
    updated_at: datetime
