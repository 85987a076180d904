"""The few query shapes every repository shares: get one, page through many, add."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from kit.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise ValidationFailed(
            "The cursor is not one this API returned; pass `next_cursor` from the last page.",
            extra={
                "errors": [
                    {"location": "query.cursor", "message": "Invalid cursor.", "type": "cursor"}
                ]
            },
        ) from exc


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    id_column: InstrumentedAttribute[uuid.UUID],
    *,
    cursor: str | None,
    limit: int,
) -> Page[Any]:
    """Newest first by a UUIDv7 key: stable under inserts, unlike OFFSET paging."""
    if cursor:
        statement = statement.where(id_column < decode_cursor(cursor))
    rows = list(
        (await session.scalars(statement.order_by(id_column.desc()).limit(limit + 1))).all()
    )
    more = len(rows) > limit
    items = rows[:limit]
    next_cursor = encode_cursor(getattr(items[-1], id_column.key)) if more and items else None
    return Page(items=items, next_cursor=next_cursor)
