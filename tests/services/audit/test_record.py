"""Every audit event extends its agency's chain from the event before it."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from contracts.audit_chain import GENESIS_HASH, event_hash
from services.audit import service as audit
from services.audit.models import AuditEvent


async def test_events_chain_per_agency(client, app) -> None:
    async with app.state.db.sessions.begin() as session:
        for n in range(3):
            await audit.record(
                session,
                agency="unhcr",
                principal=None,
                action="case.created",
                subject_type="case",
                subject_id=n,
            )
        await audit.record(
            session,
            agency="iom",
            principal=None,
            action="case.created",
            subject_type="case",
            subject_id="x",
        )
    async with app.state.db.sessions() as session:
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.agency == "unhcr").order_by(AuditEvent.seq)
            )
        ).all()
        [iom] = (await session.scalars(select(AuditEvent).where(AuditEvent.agency == "iom"))).all()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    for event in events:
        assert event.hash == event_hash(
            agency="unhcr",
            seq=event.seq,
            prev_hash=event.prev_hash,
            content=audit.event_content(event),
        )
    assert iom.seq == 1
    assert iom.prev_hash == GENESIS_HASH
