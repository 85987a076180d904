"""Request and response bodies of ``/v1/cases``.

Request bodies are checked by ``contracts`` (``validate_case_data``, the
:class:`~contracts.profile.CaseProfile` model) rather than by FastAPI, so that every fault
of a case (its reference, its profile facts and every category) comes back in one problem. The
models here describe those bodies in the OpenAPI document; endpoints receive them unvalidated
(``SkipValidation``) and hand them to the service.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema

from contracts.case_access import WithheldCode
from contracts.categories import (
    AsylumHistory,
    Category,
    CategoryData,
    Contact,
    Documents,
    Family,
    Health,
    Identity,
    Monitoring,
    Protection,
    Reference,
    Reintegration,
    ReturnPlan,
    Skills,
    SpecificNeeds,
)
from contracts.profile import CaseProfile
from kit.http.schemas import Page, RequestModel, ResponseModel


class CaseDataIn(CategoryData):
    """``category -> object``; each object follows its category's schema (DESIGN §1)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


#: Any one category's object: the body of ``PUT /v1/cases/{case_id}/data/{category}``, in the
#: schema of the category the path names.
CategoryObject = (
    Identity
    | Contact
    | Documents
    | AsylumHistory
    | Family
    | SpecificNeeds
    | Health
    | Protection
    | Skills
    | ReturnPlan
    | Reintegration
    | Monitoring
)


#: The categories the caller may read, each in its category's schema, with the fields that were
#: recorded (the route answers without unset members, so nothing reads as null that was never
#: entered).
CaseDataOut = CategoryData


class CaseCreate(RequestModel):
    external_ref: Reference = Field(
        description="The agency's own reference for the case, unique within the agency. "
        "Listed with the case, so it should be a file number, not a name."
    )
    profile: CaseProfile = Field(
        default_factory=CaseProfile, description="The facts SOP guards read (DESIGN §6)."
    )
    data: CaseDataIn = Field(default_factory=CaseDataIn)


ProfileFacts = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            **CaseProfile.model_json_schema(),
            "title": "ProfileFacts",
            "description": "The profile facts known and readable by the caller; unknown facts "
            "are absent, withheld ones are listed in `profile_withheld`.",
        }
    ),
]


class CaseSummary(ResponseModel):
    """What lists and writes return: ids, the agency's reference and times, nothing personal."""

    id: uuid.UUID
    agency: str
    external_ref: str
    created_at: datetime
    updated_at: datetime


class WithheldOut(ResponseModel):
    category: Category
    code: WithheldCode
    reason: str


class WithheldFactOut(ResponseModel):
    fact: str
    code: WithheldCode
    reason: str


class CaseOut(CaseSummary):
    profile: ProfileFacts
    profile_withheld: list[WithheldFactOut]
    data: CaseDataOut = Field(
        description="The categories the caller may read, each in its category's schema."
    )
    withheld: list[WithheldOut] = Field(
        description="The categories the case holds that the caller may not read, and why."
    )


class CasePage(Page[CaseSummary]):
    pass
