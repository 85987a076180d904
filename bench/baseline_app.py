"""The floor every API figure is a ratio to: a bare FastAPI app that validates a pydantic body
shaped and sized like a referral draft and inserts one row of a referral's size, with the node's
own engine (asyncpg or aiosqlite, same pool), the node's per-request session dependency
(commit at the edge), under ``uvicorn --workers`` like the node, on the same database.

No authentication, policy, sealing or audit: those are what the ratio measures.

    BENCH_DATABASE_URL=... BENCH_ROW_BYTES=1200 \\
        python -m uvicorn bench.baseline_app:app_from_environment --factory --workers 2
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, DateTime, LargeBinary, MetaData, String
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kit.db.base import new_id, utcnow
from kit.db.engine import make_async_engine, make_sync_engine
from kit.db.session import Database, Session

TABLE = "bench_baseline_rows"


class _Base(DeclarativeBase):
    # Its own metadata: the baseline's table is no part of the node's schema.
    metadata = MetaData()


class Row(_Base):
    __tablename__ = TABLE

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(String(32), index=True)
    counterpart: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[uuid.UUID]
    purpose: Mapped[str] = mapped_column(String(64))
    agreement_id: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[uuid.UUID | None]
    categories: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(24))
    #: Stands for what a referral row seals and records (note, history): padded so that the
    #: row is as large as a drafted referral's (``BENCH_ROW_BYTES``, measured by the harness).
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DraftBody(BaseModel):
    """``ReferralCreate``'s fields, validated the same way (unknown fields refused)."""

    model_config = ConfigDict(extra="forbid")

    case_id: uuid.UUID
    to_agency: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    purpose: str = Field(min_length=1, max_length=64)
    agreement_id: str = Field(min_length=1, max_length=64)
    consent_id: uuid.UUID | None = None
    categories: list[str] = Field(min_length=1)
    note: str | None = Field(None, max_length=2000)
    respond_by: datetime | None = None


def create_table(database_url: str) -> None:
    """Made once by the harness before the workers start (two workers would race on it)."""
    engine = make_sync_engine(database_url)
    try:
        _Base.metadata.drop_all(engine)
        _Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def create_app(database_url: str, row_bytes: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_async_engine(database_url)
        app.state.db = Database(
            sessions=async_sessionmaker(engine, expire_on_commit=False), _engine=engine
        )
        yield
        await app.state.db.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None)
    fixed = len(Row.__table__.columns) * 16

    @app.post("/v1/referrals", status_code=201)
    async def draft(body: DraftBody, session: Session) -> dict[str, Any]:
        row = Row(
            agency="unhcr",
            counterpart=body.to_agency,
            case_id=body.case_id,
            purpose=body.purpose,
            agreement_id=body.agreement_id,
            consent_id=body.consent_id,
            categories=body.categories,
            status="pending_approval",
            payload=os.urandom(max(0, row_bytes - fixed)),
        )
        session.add(row)
        await session.flush()
        return {"id": str(row.id), "status": row.status}

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


def app_from_environment() -> FastAPI:
    return create_app(os.environ["BENCH_DATABASE_URL"], int(os.environ["BENCH_ROW_BYTES"]))
