"""Every query on the audit tables. Reads for callers are scoped by the principal's agency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from contracts.audit_chain import GENESIS_HASH
from kit.db.repository import Page, keyset_page

from .models import AuditCheckpoint, AuditEvent, AuditHead


@dataclass(frozen=True)
class EventFilter:
    """``GET /v1/audit`` filters; ``since`` is inclusive, ``until`` exclusive."""

    case_id: str | None = None
    referral_id: str | None = None
    actor: str | None = None
    action: str | None = None
    break_glass: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: The console shows ids by their last characters and its filters take them back: match
    #: on how the id ends. (No index serves a suffix match; the agency's own rows are scanned.)
    case_id_ending: str | None = None
    referral_id_ending: str | None = None


async def lock_head(session: AsyncSession, agency: str) -> AuditHead:
    """The agency's head row, locked until the transaction ends (created on first use).

    A missing row is created with ``ON CONFLICT DO NOTHING`` and then locked, rather than
    added: two first appends racing on PostgreSQL would otherwise both insert it and one would
    fail on the primary key. (SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway.)
    """
    locked = (
        select(AuditHead)
        .where(AuditHead.agency == agency)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = (await session.scalars(locked)).first()
    if row is not None:
        return row
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(AuditHead)
        .values(agency=agency, seq=0, hash=GENESIS_HASH)
        .on_conflict_do_nothing(index_elements=[AuditHead.agency])
    )
    return (await session.scalars(locked)).one()


_HEADS = cast(Table, AuditHead.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
# Core, built once: every state change and every read of personal data appends an event, and
# through the ORM (a statement built per call, a unit-of-work flush) the three statements of an
# append cost four times the CPU of running them (issue 19).
_LOCKED_HEAD = (
    select(_HEADS.c.seq, _HEADS.c.hash)
    .where(_HEADS.c.agency == bindparam("agency"))
    .with_for_update()
)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.agency == bindparam("head_agency"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_ADD_EVENT = insert(_EVENTS)
# PostgreSQL takes both in one round trip: the head's UPDATE as a data-modifying CTE of the
# event's INSERT, in the same transaction and under the same lock (SQLite has no such CTE).
_ADD_EVENT_MOVING_HEAD = (
    insert(_EVENTS)
    # Parameters named apart from every column: Core adds a parameter named like a column of
    # the UPDATE's table (``agency``, ``seq``, ``hash``) to its SET clause.
    .values({column.key: bindparam(f"event_{column.key}") for column in _EVENTS.columns})
    .add_cte(_MOVE_HEAD.cte("moved_head"))
)


async def locked_head(session: AsyncSession, agency: str) -> tuple[int, str]:
    """The sequence number and hash of ``agency``'s head, its row locked as :func:`lock_head`
    locks it (which makes the row on the chain's first append)."""
    found = (await session.execute(_LOCKED_HEAD, {"agency": agency})).first()
    if found is None:
        made = await lock_head(session, agency)
        return made.seq, made.hash
    return int(found.seq), str(found.hash)


async def append(session: AsyncSession, event: AuditEvent) -> None:
    """Insert ``event`` and move the head of its chain to it (the head locked already)."""
    values = {column.key: getattr(event, column.key) for column in _EVENTS.columns}
    head = {"head_agency": event.agency, "new_seq": event.seq, "new_hash": event.hash}
    if session.get_bind().dialect.name == "postgresql":
        named = {f"event_{key}": value for key, value in values.items()}
        await session.execute(_ADD_EVENT_MOVING_HEAD, named | head)
        return
    await session.execute(_ADD_EVENT, values)
    await session.execute(_MOVE_HEAD, head)


async def head(session: AsyncSession, agency: str) -> AuditHead | None:
    return await session.get(AuditHead, agency, populate_existing=True)


async def chain(session: AsyncSession, agency: str) -> Sequence[AuditEvent]:
    """The agency's events in storage order: by sequence number."""
    return (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.agency == agency).order_by(AuditEvent.seq)
        )
    ).all()


async def page_for(
    session: AsyncSession,
    principal: Principal,
    where: EventFilter,
    *,
    cursor: str | None,
    limit: int,
) -> Page[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.agency == principal.agency)
    if where.case_id is not None:
        statement = statement.where(AuditEvent.case_id == where.case_id)
    if where.referral_id is not None:
        statement = statement.where(AuditEvent.referral_id == where.referral_id)
    if where.case_id_ending is not None:
        statement = statement.where(AuditEvent.case_id.endswith(where.case_id_ending))
    if where.referral_id_ending is not None:
        statement = statement.where(AuditEvent.referral_id.endswith(where.referral_id_ending))
    if where.actor is not None:
        statement = statement.where(AuditEvent.actor == where.actor)
    if where.action is not None:
        statement = statement.where(AuditEvent.action == where.action)
    if where.break_glass is not None:
        statement = statement.where(AuditEvent.break_glass.is_(where.break_glass))
    if where.since is not None:
        statement = statement.where(AuditEvent.at >= where.since)
    if where.until is not None:
        statement = statement.where(AuditEvent.at < where.until)
    return await keyset_page(session, statement, AuditEvent.id, cursor=cursor, limit=limit)


async def checkpoints(session: AsyncSession, agency: str) -> Sequence[AuditCheckpoint]:
    return (
        await session.scalars(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.agency == agency)
            .order_by(AuditCheckpoint.seq)
        )
    ).all()


async def checkpoint_at(session: AsyncSession, agency: str, seq: int) -> AuditCheckpoint | None:
    return (
        await session.scalars(
            select(AuditCheckpoint).where(
                AuditCheckpoint.agency == agency, AuditCheckpoint.seq == seq
            )
        )
    ).first()


async def add_checkpoint(session: AsyncSession, checkpoint: AuditCheckpoint) -> AuditCheckpoint:
    session.add(checkpoint)
    await session.flush()
    return checkpoint


@dataclass(frozen=True)
class ChainProgress:
    """How far an agency's chain has moved since its newest checkpoint."""

    agency: str
    head_seq: int
    checkpoint_seq: int
    checkpoint_at: datetime | None


async def progress(session: AsyncSession) -> list[ChainProgress]:
    """Every chain on this node with its newest checkpoint, for deciding which are due."""
    latest = (
        select(
            AuditCheckpoint.agency,
            func.max(AuditCheckpoint.seq).label("seq"),
            func.max(AuditCheckpoint.at).label("at"),
        )
        .group_by(AuditCheckpoint.agency)
        .subquery()
    )
    rows = await session.execute(
        select(AuditHead.agency, AuditHead.seq, latest.c.seq, latest.c.at)
        .outerjoin(latest, latest.c.agency == AuditHead.agency)
        .order_by(AuditHead.agency)
    )
    return [
        ChainProgress(
            agency=agency, head_seq=head_seq, checkpoint_seq=cp_seq or 0, checkpoint_at=cp_at
        )
        for agency, head_seq, cp_seq, cp_at in rows.all()
    ]


async def chain_agencies(session: AsyncSession) -> list[str]:
    """Every agency with a chain on this node, from its head or its events."""
    heads = set((await session.scalars(select(AuditHead.agency))).all())
    events = set((await session.scalars(select(AuditEvent.agency).distinct())).all())
    return sorted(heads | events)
