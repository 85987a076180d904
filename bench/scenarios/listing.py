"""Incoming referrals in bulk, written with SQL straight into the recipient's table (10⁶
through the API would take hours): copies of one real, delivered referral row, each with a
fresh time-ordered id, older than the real ones, so every listing pages through them.

:func:`plans` shows how PostgreSQL answers the listing: the statements
``services.referrals.repository.page_for`` issues for a first and a deep page, each with its
``EXPLAIN (ANALYZE, BUFFERS)``."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

from sqlalchemy import Engine, event, func, insert, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from kit.db.engine import is_sqlite, make_async_engine, make_sync_engine
from kit.db.repository import encode_cursor
from services.referrals import repository
from services.referrals.models import Referral

TABLE = Referral.__table__
AGENCY = "iom"


def incoming(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count())
                .select_from(TABLE)
                .where(TABLE.c.agency == AGENCY, TABLE.c.direction == "incoming")
            )
            or 0
        )


def _uuid7(millis: int) -> uuid.UUID:
    """A UUIDv7 (RFC 9562 §5.7) at ``millis``, as ``kit.db.base.new_id`` makes them."""
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (uuid.uuid4().int & ((1 << 76) - 1)) & ~(0x3 << 62) | (0x2 << 62)
    return uuid.UUID(int=value)


def grow(database_url: str, total: int, *, chunk: int = 100_000) -> float:
    """Add copies of IOM's newest incoming referral until it holds ``total``; seconds taken."""
    engine = make_sync_engine(database_url)
    started = time.monotonic()
    try:
        have = incoming(engine)
        with engine.connect() as connection:
            template = connection.execute(
                select(TABLE)
                .where(TABLE.c.agency == AGENCY, TABLE.c.direction == "incoming")
                .order_by(TABLE.c.id.desc())
                .limit(1)
            ).one()
        # Older than every real row: one millisecond apart, ending a day before now.
        newest = int(time.time() * 1000) - 86_400_000
        missing = total - have
        while missing > 0:
            batch = min(chunk, missing)
            first = newest - missing
            if is_sqlite(database_url):
                _copies_sqlite(engine, template._mapping, first, batch)
            else:
                _copies_postgres(engine, template.id, first, batch)
            missing -= batch
        if not is_sqlite(database_url):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE referrals"))
    finally:
        engine.dispose()
    return time.monotonic() - started


def _copies_sqlite(engine: Engine, row: object, first: int, count: int) -> None:
    values = dict(row)  # type: ignore[call-overload]
    rows = [
        {**values, "id": row_id, "referral_id": str(row_id), "message_id": str(row_id)}
        for row_id in (_uuid7(first + n) for n in range(count))
    ]
    with engine.begin() as connection:
        connection.execute(insert(TABLE), rows)


def _copies_postgres(engine: Engine, template: uuid.UUID, first: int, count: int) -> None:
    """One INSERT ... SELECT over generate_series: ids built in SQL as UUIDv7 (48-bit
    millisecond prefix, version 7, variant 10, random rest). The referral and message ids are
    the row id's text, time-ordered as the node's own (``kit.db.base.new_id``): random ones
    would land all over their unique indexes and make the load several times slower."""
    uuid7 = (
        "(lpad(to_hex(:first + g), 12, '0') || '7' || substr(r, 1, 3) || '8' "
        "|| substr(r, 4, 15))::uuid"
    )
    replaced = {"id": "n.id", "referral_id": "n.id::text", "message_id": "n.id::text"}
    columns = [c.name for c in TABLE.columns]
    statement = text(
        f"INSERT INTO referrals ({', '.join(columns)}) "  # noqa: S608 - our own column names
        f"SELECT {', '.join(replaced.get(name, f't.{name}') for name in columns)} "
        f"FROM (SELECT {uuid7} AS id FROM (SELECT g, md5(random()::text) AS r "
        "FROM generate_series(0, :count - 1) AS g) AS s) AS n, referrals t WHERE t.id = :template"
    )
    with engine.begin() as connection:
        connection.execute(statement, {"first": first, "count": count, "template": template})


def deep_cursor(database_url: str, *, depth: float = 0.9) -> str:
    """The cursor a client paging from the newest would hold ``depth`` of the way down."""
    engine = make_sync_engine(database_url)
    try:
        count = incoming(engine)
        with engine.connect() as connection:
            row_id = connection.scalar(
                select(TABLE.c.id)
                .where(TABLE.c.agency == AGENCY, TABLE.c.direction == "incoming")
                .order_by(TABLE.c.id.desc())
                .offset(int(count * depth))
                .limit(1)
            )
    finally:
        engine.dispose()
    return encode_cursor(row_id)


#: What the hot path of a listing must not do (issue 19): count the set or skip rows by OFFSET.
_FORBIDDEN = re.compile(r"\bcount\s*\(|\boffset\b", re.IGNORECASE)


def plans(database_url: str, cursor: str, *, limit: int = 50) -> dict[str, Any]:
    """The statements a first and a deep page of IOM's incoming referrals issue (through the
    repository, as ``GET /v1/referrals?direction=incoming`` does), each with its plan."""
    return asyncio.run(_plans(database_url, cursor, limit))


async def _plans(database_url: str, cursor: str, limit: int) -> dict[str, Any]:
    engine = make_async_engine(database_url, pool_size=1)
    issued: list[tuple[str, Any]] = []
    listening = False

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if listening:
            issued.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    found: dict[str, Any] = {}
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        for label, page_cursor in (("first page", None), ("deep page", cursor)):
            issued.clear()
            listening = True
            async with sessions() as session:
                await repository.page_for(
                    session,
                    agency=AGENCY,
                    direction="incoming",
                    status=None,
                    stage=None,
                    cursor=page_cursor,
                    limit=limit,
                )
            listening = False
            statements = []
            async with engine.connect() as connection:
                for statement, parameters in issued:
                    rows = await connection.exec_driver_sql(
                        f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
                    )
                    statements.append(
                        {
                            "sql": " ".join(statement.split()),
                            "count_or_offset": bool(_FORBIDDEN.search(statement)),
                            "plan": [row[0] for row in rows],
                        }
                    )
            found[label] = statements
    finally:
        await engine.dispose()
    return found
