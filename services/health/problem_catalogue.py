"""``GET /problems/{slug}``: the problem ``type`` URIs dereference to what they mean.

Titles are in the caller's ``Accept-Language`` (``kit.i18n``), as in the problem documents
themselves; ``type`` and ``status`` never change, and the explanations are in English."""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from typing import Annotated

from fastapi import Path, Response
from pydantic import BaseModel

from kit import i18n
from kit.errors import AccordError, NotFound, ValidationFailed, problem_types
from kit.http.paging import MAX_LIMIT, Cursor, Limit
from kit.http.routing import api_router
from kit.http.schemas import Page

router = api_router(tags=["operations"])


class ProblemType(BaseModel):
    type: str
    title: str
    status: int
    explanation: str


class ProblemTypePage(Page[ProblemType]):
    pass


def _after(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "The cursor is not one this API returned; pass `next_cursor` from the last page.",
            extra={
                "errors": [
                    {"location": "query.cursor", "message": "Invalid cursor.", "type": "cursor"}
                ]
            },
        ) from exc


@router.get("/problems", summary="Every problem type this node answers with")
async def list_problem_types(
    response: Response, cursor: Cursor = None, limit: Limit = MAX_LIMIT
) -> ProblemTypePage:
    """By slug; the whole catalogue fits one page at the default limit."""
    response.headers["Content-Language"] = i18n.current_language()
    known = problem_types()
    slugs = sorted(known)
    start = bisect_right(slugs, _after(cursor)) if cursor else 0
    chosen = slugs[start : start + limit]
    more = start + limit < len(slugs)
    return ProblemTypePage(
        items=[_describe(known[slug]) for slug in chosen],
        next_cursor=base64.urlsafe_b64encode(chosen[-1].encode()).rstrip(b"=").decode()
        if more and chosen
        else None,
        limit=limit,
    )


@router.get("/problems/{slug}", summary="What one problem type means and how to fix it")
async def problem_type(
    slug: Annotated[str, Path(max_length=64)], response: Response
) -> ProblemType:
    cls = problem_types().get(slug)
    if cls is None:
        raise NotFound(i18n.gettext("No problem type has that name; GET /problems lists them all."))
    response.headers["Content-Language"] = i18n.current_language()
    return _describe(cls)


def _describe(cls: type[AccordError]) -> ProblemType:
    return ProblemType(
        type=cls.type_uri(),
        title=i18n.gettext(cls.title),
        status=cls.status,
        explanation=cls.explanation,
    )
