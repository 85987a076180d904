"""The query parameters of every list operation: ``cursor`` and ``limit`` (at most 200).

A list handler takes ``cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT``, reads a page with
``kit.db.repository.keyset_page`` and answers a ``kit.http.schemas.Page`` subclass.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from kit.db.repository import DEFAULT_LIMIT, MAX_LIMIT

Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description="`next_cursor` of the previous page; omit for the first (newest) page.",
    ),
]
Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"At most this many items (1-{MAX_LIMIT}).")
]

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Cursor", "Limit"]
