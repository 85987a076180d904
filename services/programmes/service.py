"""Programmes: refused, with every gap, unless every stage acted by another agency has an
active agreement of the programme covering its purpose and needs (DESIGN §7). The rule is
``sop.programmes``; this module reads what it needs and stores the result."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.agreements import AgreementState
from kit.db.base import utcnow
from kit.db.repository import Page
from kit.errors import AccordError, NotFound, ValidationFailed
from services.agreements import repository as agreement_rows
from services.agreements import service as agreements
from services.audit import service as audit
from services.federation.runtime import Federation
from services.sops import service as sops
from sop.bindings import binding_faults
from sop.programmes import deadline_faults, programme_faults
from sop.schema import Definition

from . import repository
from .models import Programme


class ProgrammeRefused(AccordError):
    status = 422
    slug = "programme-refused"
    title = "Programme cannot run"
    explanation = (
        "Every stage acted by another agency needs an active agreement of the programme "
        "covering that stage's purpose and needs; `violations` lists every gap, per stage."
    )


async def definition_of(session: AsyncSession, programme: Programme) -> Definition:
    return await sops.definition(session, agency=programme.agency, ref=programme.sop)


async def agreements_of(session: AsyncSession, programme: Programme) -> list[AgreementState]:
    """The programme's agreements as this node holds them (those it does not are left out)."""
    states = []
    for agreement_id in programme.agreements:
        row = await agreement_rows.get_row(session, agreement_id)
        if row is not None:
            states.append(agreement_rows.to_state(row))
    return states


async def check(
    session: AsyncSession,
    *,
    federation: Federation,
    programme: Programme,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Re-evaluate a programme: agreements expire and are suspended after it was created."""
    faults = programme_faults(
        await definition_of(session, programme),
        owner=programme.agency,
        bindings=programme.bindings,
        agreements=await agreements_of(session, programme),
        known_agencies=await agreements.known_agencies(session, federation=federation),
        now=now or utcnow(),
    )
    missing = [
        a
        for a in programme.agreements
        if await agreement_rows.get_for(session, programme.agency, a) is None
    ]
    return [f.as_dict() for f in faults] + [
        {
            "code": "agreement_unknown",
            "message": f"agreement {a} is not held for {programme.agency}",
            "stage": None,
            "role": None,
        }
        for a in missing
    ]


async def require_runnable(
    session: AsyncSession, *, federation: Federation, programme: Programme
) -> None:
    """Refuse, with every gap, a programme that cannot run now."""
    faults = await check(session, federation=federation, programme=programme)
    if faults:
        raise ProgrammeRefused(
            f"{len(faults)} reason(s) stop this programme: "
            + "; ".join(f["message"] for f in faults),
            extra={"violations": faults},
        )


async def create(
    session: AsyncSession,
    *,
    federation: Federation,
    principal: Principal,
    title: str,
    sop: str,
    bindings: dict[str, Any],
    agreement_ids: list[str],
    params: dict[str, Any],
    deadlines: dict[str, str] | None = None,
) -> Programme:
    shape = binding_faults(bindings)
    if shape:
        raise ValidationFailed(
            f"{len(shape)} binding(s) are malformed: " + "; ".join(f.message for f in shape),
            extra={"errors": [f.as_dict() for f in shape]},
        )
    definition = await sops.find(session, agency=principal.agency, ref=sop)
    if definition is None:
        raise ValidationFailed(
            f"No SOP definition {sop} for your agency; GET /v1/sops lists them.",
            extra={
                "errors": [
                    {
                        "location": "body.sop",
                        "message": "Not an SOP your agency can run.",
                        "type": "unknown_sop",
                    }
                ]
            },
        )
    late = deadline_faults(definition, deadlines or {})
    if late:
        raise ValidationFailed(
            f"{len(late)} deadline(s) cannot apply: " + "; ".join(f.message for f in late),
            extra={
                "errors": [
                    {"location": f"body.deadlines.{f.stage}", "message": f.message, "type": f.code}
                    for f in late
                ]
            },
        )
    programme = Programme(
        agency=principal.agency,
        title=title,
        sop_id=definition.id,
        sop_version=definition.version,
        bindings=bindings,
        agreements=agreement_ids,
        params=params,
        deadlines=deadlines or {},
    )
    await require_runnable(session, federation=federation, programme=programme)
    await repository.add(session, programme)
    await audit.record(
        session,
        agency=principal.agency,
        principal=principal,
        action="programme.created",
        subject_type="programme",
        subject_id=programme.id,
        detail={"sop": definition.ref},
    )
    return programme


async def get(session: AsyncSession, *, principal: Principal, programme_id: uuid.UUID) -> Programme:
    programme = await repository.get_for(
        session, agency=principal.agency, programme_id=programme_id
    )
    if programme is None:
        raise NotFound("No programme with this id at your agency.")
    return programme


async def page(
    session: AsyncSession, *, principal: Principal, cursor: str | None, limit: int
) -> Page[Programme]:
    return await repository.page_for(session, agency=principal.agency, cursor=cursor, limit=limit)
