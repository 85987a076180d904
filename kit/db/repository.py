"""The few query shapes every repository shares: get one, page through many, add."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, bindparam, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from kit.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: Rows read per query when a page is filtered in Python (``keep``): enough that a filter
#: which matches most rows needs one query, few enough that one which matches none is cheap.
_SCAN_BATCH = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(value: uuid.UUID) -> str:
    return _b64(value.bytes)


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not one this API returned; pass `next_cursor` from the last page.",
        extra={
            "errors": [{"location": "query.cursor", "message": "Invalid cursor.", "type": "cursor"}]
        },
    )


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=_unb64(cursor))
    except (ValueError, binascii.Error) as exc:
        raise _invalid_cursor() from exc


Key = InstrumentedAttribute[Any]


def _python_type(column: Key) -> type:
    """The Python type of a key column, through a TypeDecorator (``UtcDateTime``) to its impl."""
    for candidate in (column.type, getattr(column.type, "impl", None)):
        try:
            found = candidate.python_type  # type: ignore[union-attr]
        except (NotImplementedError, AttributeError):
            continue
        if found is not object:  # what a TypeDecorator says of itself
            return found  # type: ignore[no-any-return]
    return str


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _from_json(column: Key, value: Any) -> Any:
    kind = _python_type(column)
    if kind is datetime:
        if not isinstance(value, str):
            raise ValueError("not a time")
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("not an integer")
        return value
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def _encode_key(columns: Sequence[Key], row: Any) -> str:
    values = [getattr(row, column.key) for column in columns]
    if len(columns) == 1 and isinstance(values[0], uuid.UUID):
        return encode_cursor(values[0])
    return _b64(json.dumps([_to_json(v) for v in values], separators=(",", ":")).encode())


def _decode_key(columns: Sequence[Key], cursor: str) -> list[Any]:
    if len(columns) == 1 and _python_type(columns[0]) is uuid.UUID:
        return [decode_cursor(cursor)]
    try:
        values = json.loads(_unb64(cursor))
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong arity")
        return [_from_json(column, value) for column, value in zip(columns, values, strict=True)]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid_cursor() from exc


def _after(statement: Select[Any], columns: Sequence[Key], values: list[Any]) -> Select[Any]:
    """Rows strictly after ``values`` in the newest-first order of ``columns``."""
    if len(columns) == 1:
        return statement.where(columns[0] < values[0])
    bound = [
        bindparam(None, value, type_=column.type)
        for column, value in zip(columns, values, strict=True)
    ]
    return statement.where(tuple_(*columns) < tuple_(*bound))


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    key: Key | Sequence[Key],
    *,
    cursor: str | None,
    limit: int,
    keep: Callable[[Any], bool] | None = None,
) -> Page[Any]:
    """Newest first by a key that only grows (a UUIDv7 id, an autoincrement position, or a
    compound such as ``(created_at, id, version)``): stable under inserts, unlike OFFSET paging.

    ``keep`` filters rows in Python where a condition cannot be written in SQL (a status that
    depends on the time, a JSON list on both backends); rows are then read in batches until
    the page is full, so a page is still one query in the common case and never one per row.
    """
    columns = list(key) if isinstance(key, Sequence) else [key]
    if cursor:
        statement = _after(statement, columns, _decode_key(columns, cursor))
    ordered = statement.order_by(*(column.desc() for column in columns))
    if keep is None:
        rows = list((await session.scalars(ordered.limit(limit + 1))).all())
    else:
        rows = []
        batch = max(limit + 1, _SCAN_BATCH)
        scan = ordered
        while len(rows) <= limit:
            found = list((await session.scalars(scan.limit(batch))).all())
            rows.extend(row for row in found if keep(row))
            if len(found) < batch:
                break
            scan = _after(ordered, columns, [getattr(found[-1], column.key) for column in columns])
    more = len(rows) > limit
    items = rows[:limit]
    next_cursor = _encode_key(columns, items[-1]) if more and items else None
    return Page(items=items, next_cursor=next_cursor)


def encode_text_cursor(value: str) -> str:
    """A cursor over a list ordered by a text key (not a table: shipped definitions)."""
    return _b64(value.encode())


def decode_text_cursor(cursor: str) -> str:
    try:
        return _unb64(cursor).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid_cursor() from exc
