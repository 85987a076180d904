"""Agreements as this node holds them, seen only by the parties."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.agreements import AgreementState

from .models import AgreementParty, AgreementRow


def to_state(row: AgreementRow) -> AgreementState:
    return AgreementState.model_validate(row.state)


async def get_row(
    session: AsyncSession, agreement_id: str, version: int | None = None, *, lock: bool = False
) -> AgreementRow | None:
    statement = select(AgreementRow).where(AgreementRow.id == agreement_id)
    if version is not None:
        statement = statement.where(AgreementRow.version == version)
    statement = statement.order_by(AgreementRow.version.desc()).limit(1)
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).first()


async def get_for(
    session: AsyncSession, agency: str, agreement_id: str, version: int | None = None
) -> AgreementRow | None:
    """The agreement if ``agency`` is a party to it, else None (another party's business)."""
    row = await get_row(session, agreement_id, version)
    if row is None or agency not in to_state(row).terms.parties:
        return None
    return row


async def list_for(
    session: AsyncSession,
    agency: str,
    *,
    party: str | None = None,
    status: str | None = None,
    purpose: str | None = None,
) -> list[AgreementRow]:
    mine = select(AgreementParty.agreement_id).where(AgreementParty.agency == agency)
    statement = select(AgreementRow).where(AgreementRow.id.in_(mine))
    rows = list((await session.scalars(statement.order_by(AgreementRow.created_at.desc()))).all())
    found = []
    for row in rows:
        state = to_state(row)
        if party and party not in state.terms.parties:
            continue
        if status and row.status != status:
            continue
        if purpose and purpose not in state.terms.purposes:
            continue
        found.append(row)
    return found


async def save(session: AsyncSession, state: AgreementState) -> AgreementRow:
    """Insert or replace this node's copy of one agreement version."""
    row = await get_row(session, state.id, state.version)
    document = state.model_dump(mode="json")
    if row is None:
        row = AgreementRow(
            id=state.id,
            version=state.version,
            status=state.status.value,
            title=state.terms.title,
            state=document,
        )
        session.add(row)
        await session.flush()  # the party index refers to this row
        for agency in sorted(set(state.terms.parties)):
            session.add(
                AgreementParty(
                    agreement_id=state.id,
                    version=state.version,
                    agency=agency,
                    purpose_list=list(state.terms.purposes),
                )
            )
    else:
        row.status = state.status.value
        row.title = state.terms.title
        row.state = document
        await _sync_parties(session, state)
    await session.flush()
    return row


async def _sync_parties(session: AsyncSession, state: AgreementState) -> None:
    """A revised draft may name other parties; the party index follows the terms."""
    current = {
        p.agency: p
        for p in (
            await session.scalars(
                select(AgreementParty).where(
                    AgreementParty.agreement_id == state.id, AgreementParty.version == state.version
                )
            )
        ).all()
    }
    wanted = set(state.terms.parties)
    for agency, party in current.items():
        if agency not in wanted:
            await session.delete(party)
        else:
            party.purpose_list = list(state.terms.purposes)
    for agency in sorted(wanted - set(current)):
        session.add(
            AgreementParty(
                agreement_id=state.id,
                version=state.version,
                agency=agency,
                purpose_list=list(state.terms.purposes),
            )
        )
