from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from kit.http.schemas import Page, RequestModel, ResponseModel

from .models import Programme

#: Who acts for a role (DESIGN §7, ``sop.bindings``): a slug, an ordered list (the first acts,
#: the others are alternates), or, for origin_authority and reception_agency, nationality
#: (ISO 3166-1 alpha-3) -> slug or list.
BindingValue = str | list[str] | dict[str, str | list[str]]

#: An SOP parameter's value (DESIGN §7 ``params``: an int, a list of nationalities, ...).
ParamValue = bool | int | float | str | list[str] | None


class ProgrammeCreate(RequestModel):
    title: str = Field(min_length=1, max_length=200)
    sop: str = Field(pattern=r"^[a-z0-9-]+@\d+\.\d+\.\d+$", examples=["avrr-joint@2.1.0"])
    bindings: dict[str, BindingValue] = Field(
        description=(
            "SOP role -> agency slug, or an ordered list of slugs (the first acts, the others "
            "are alternates), or, for origin_authority and reception_agency, a map from the "
            "person's nationality (ISO 3166-1 alpha-3) to a slug or list."
        ),
        examples=[{"return_agency": "iom", "origin_authority": {"SRB": "gov-rs", "XKX": "gov-xk"}}],
    )
    agreements: list[str] = Field(default_factory=list)
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="The SOP's parameters (e.g. `min_years` of a regularization programme).",
    )
    deadlines: dict[str, str] = Field(
        default_factory=dict,
        description="Stage id -> ISO 8601 duration, as the readmission agreement sets them "
        '(e.g. `{"travel_documents": "P14D"}`); a stage not named keeps the SOP\'s `due`.',
        examples=[{"travel_documents": "P14D", "readmission_request": "P25D"}],
    )


class ProgrammeGap(ResponseModel):
    """One reason a programme cannot run: the stage and SOP role it concerns, if one."""

    code: str
    message: str
    stage: str | None = None
    role: str | None = None


class ProgrammeOut(ResponseModel):
    id: uuid.UUID
    agency: str
    title: str
    sop: str = Field(examples=["avrr-joint@2.1.0"])
    bindings: dict[str, BindingValue]
    agreements: list[str]
    params: dict[str, ParamValue]
    deadlines: dict[str, str] = Field(default_factory=dict)
    runnable: bool
    violations: list[ProgrammeGap]

    @classmethod
    def from_row(cls, row: Programme, faults: list[dict[str, Any]] | None = None) -> ProgrammeOut:
        faults = faults or []
        return cls(
            id=row.id,
            agency=row.agency,
            title=row.title,
            sop=row.sop,
            bindings=row.bindings,
            agreements=row.agreements,
            params=row.params,
            deadlines=row.deadlines or {},
            runnable=not faults,
            violations=[ProgrammeGap.model_validate(f) for f in faults],
        )


class ProgrammeCheck(ResponseModel):
    runnable: bool
    violations: list[ProgrammeGap]
    checked_at: datetime


class ProgrammePage(Page[ProgrammeOut]):
    pass
