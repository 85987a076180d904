"""Agreements as this node holds them, seen only by the parties."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contracts.agreements import AgreementState
from kit.db.repository import Page, keyset_page

from .models import AgreementParty, AgreementRow


def to_state(row: AgreementRow) -> AgreementState:
    return AgreementState.model_validate(row.state)


def _get_row_statement(*, versioned: bool, lock: bool) -> Select[AgreementRow]:
    statement = select(AgreementRow).where(AgreementRow.id == bindparam("agreement_id"))
    if versioned:
        statement = statement.where(AgreementRow.version == bindparam("version"))
    statement = statement.order_by(AgreementRow.version.desc()).limit(1)
    return statement.with_for_update() if lock else statement


# Built once per variant: every referral's draft, approval, read and receipt reads its
# agreement, and building the statement each time cost more CPU than running it (issue 19).
_GET_ROW = {
    (versioned, lock): _get_row_statement(versioned=versioned, lock=lock)
    for versioned in (False, True)
    for lock in (False, True)
}


async def get_row(
    session: AsyncSession, agreement_id: str, version: int | None = None, *, lock: bool = False
) -> AgreementRow | None:
    statement = _GET_ROW[version is not None, lock]
    values: dict[str, object] = {"agreement_id": agreement_id}
    if version is not None:
        values["version"] = version
    return (await session.scalars(statement, values)).first()


async def get_for(
    session: AsyncSession,
    agency: str,
    agreement_id: str,
    version: int | None = None,
    *,
    lock: bool = False,
) -> AgreementRow | None:
    """The agreement if ``agency`` is a party to it, else None (another party's business);
    ``lock``: its row locked until the transaction ends, for a change to it."""
    row = await get_row(session, agreement_id, version, lock=lock)
    if row is None or agency not in to_state(row).terms.parties:
        return None
    return row


def _is_party(party: Any, agency: str) -> ColumnElement[bool]:
    """``party`` (an alias of the party index) says ``agency`` is a party to the row's version."""
    return and_(
        party.agreement_id == AgreementRow.id,
        party.version == AgreementRow.version,
        party.agency == agency,
    )


async def page_for(
    session: AsyncSession,
    agency: str,
    *,
    party: str | None = None,
    keep: Callable[[AgreementRow], bool] | None = None,
    cursor: str | None,
    limit: int,
) -> Page[AgreementRow]:
    """The agreement versions ``agency`` is a party to (the same rule as :func:`get_for`),
    newest first; ``party`` narrows to those another agency is a party to as well."""
    mine = aliased(AgreementParty)
    statement = select(AgreementRow).join(mine, _is_party(mine, agency))
    if party:
        theirs = aliased(AgreementParty)
        statement = statement.join(theirs, _is_party(theirs, party))
    key = (AgreementRow.created_at, AgreementRow.id, AgreementRow.version)
    return await keyset_page(session, statement, key, cursor=cursor, limit=limit, keep=keep)


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
