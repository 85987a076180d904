"""``/v1/cases``: the agency's cases, their profile facts and their data by category."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Body, Path, Query, Response
from pydantic import SkipValidation

from auth.dependencies import Requires
from auth.principal import Principal
from contracts.case_access import CASE_ROLES
from contracts.categories import Category
from contracts.profile import CaseProfile
from kit.db.session import Session
from kit.http.paging import DEFAULT_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from kit.http.state import MasterKey
from services.federation.runtime import FederationDep

from . import service
from .schemas import (
    CaseCreate,
    CaseDataOut,
    CaseOut,
    CasePage,
    CaseSummary,
    CategoryObject,
    WithheldFactOut,
    WithheldOut,
)

router = api_router(prefix="/v1/cases", tags=["cases"])

# The routes admit exactly the roles contracts.case_access lets read case data.
Reader = Annotated[Principal, Requires(scope="cases:read", role=CASE_ROLES)]
Writer = Annotated[Principal, Requires(scope="cases:write", role=CASE_ROLES)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "Missing scope or role, or a category your data roles do not open"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such case at your agency"}}
_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"description": "A field, a profile fact or a category refused; `errors` names each"}
}

# Bodies are validated by contracts, which report every fault at once (see .schemas).
NewCase = Annotated[SkipValidation[CaseCreate], Body()]
ProfilePatch = Annotated[
    SkipValidation[CaseProfile],
    Body(description="A JSON merge patch (RFC 7396) of profile facts: `null` clears a fact."),
]
CategoryBody = Annotated[
    SkipValidation[CategoryObject],
    Body(description="The whole category, in the schema of the category named in the path."),
]
CategoryName = Annotated[
    str,
    Path(
        description="A data category of the vocabulary (DESIGN §1).",
        json_schema_extra={"enum": [c.value for c in Category]},
    ),
]


def _view(view: service.CaseView) -> CaseOut:
    return CaseOut(
        **CaseSummary.model_validate(view.case).model_dump(),
        profile=view.profile,
        profile_withheld=[WithheldFactOut(**w.as_dict()) for w in view.profile_withheld],
        data=CaseDataOut.model_validate({c.value: v for c, v in view.data.items()}),
        withheld=[WithheldOut(**w.as_dict()) for w in view.withheld],
    )


@router.post(
    "",
    status_code=201,
    responses={**_ERRORS, **_REFUSED, 409: {"description": "external_ref already in use"}},
    summary="Record a case, its profile facts and data (sealed at rest)",
)
async def create_case(
    body: NewCase, principal: Writer, session: Session, master_key: MasterKey, response: Response
) -> CaseSummary:
    """Record a case. Profile facts and data are sealed at rest under the case's own key; the
    answer holds no personal data (read it back with `GET /v1/cases/{case_id}`)."""
    case = await service.create(session, principal=principal, master_key=master_key, body=body)
    response.headers["Location"] = f"/v1/cases/{case.id}"
    return CaseSummary.model_validate(case)


@router.get("", responses=_ERRORS, summary="Your agency's cases, newest first")
async def list_cases(
    principal: Reader,
    session: Session,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    external_ref: Annotated[str | None, Query(max_length=120)] = None,
) -> CasePage:
    """The agency's cases, newest first (keyset pagination: pass `next_cursor` back)."""
    page = await service.page(
        session, principal=principal, cursor=cursor, limit=limit, external_ref=external_ref
    )
    return CasePage(
        items=[CaseSummary.model_validate(c) for c in page.items],
        next_cursor=page.next_cursor,
        limit=limit,
    )


# Without unset members: a category answers with the fields that were recorded, as stored.
@router.get(
    "/{case_id}",
    responses={**_ERRORS, **_NOT_FOUND},
    response_model_exclude_unset=True,
    summary="The case as your roles may see it (an audited read)",
)
async def get_case(
    case_id: uuid.UUID, principal: Reader, session: Session, master_key: MasterKey
) -> CaseOut:
    """The case: the profile facts and categories your roles open, the rest under `withheld`
    and `profile_withheld` with the reason. Every call is an audit event naming what was
    disclosed."""
    return _view(
        await service.read(session, principal=principal, case_id=case_id, master_key=master_key)
    )


@router.put(
    "/{case_id}/data/{category}",
    responses={**_ERRORS, **_NOT_FOUND, **_REFUSED},
    summary="Replace one category of the case",
)
async def replace_case_data(
    case_id: uuid.UUID,
    category: CategoryName,
    body: CategoryBody,
    principal: Writer,
    session: Session,
    master_key: MasterKey,
) -> CaseSummary:
    """Replace one category of the case with the object sent."""
    case = await service.replace_category(
        session,
        principal=principal,
        case_id=case_id,
        category=category,
        master_key=master_key,
        body=body,
    )
    return CaseSummary.model_validate(case)


@router.patch(
    "/{case_id}/profile",
    responses={**_ERRORS, **_NOT_FOUND, **_REFUSED},
    summary="Change profile facts (JSON merge patch)",
)
async def update_case_profile(
    case_id: uuid.UUID,
    body: ProfilePatch,
    principal: Writer,
    session: Session,
    master_key: MasterKey,
    federation: FederationDep,
) -> CaseSummary:
    """Change profile facts: the facts sent replace those held, `null` clears one. An open
    journey the change puts at risk is diverted to the safeguard it now requires."""
    case = await service.patch_profile(
        session,
        principal=principal,
        case_id=case_id,
        master_key=master_key,
        body=body,
        events=federation.events,
    )
    return CaseSummary.model_validate(case)
