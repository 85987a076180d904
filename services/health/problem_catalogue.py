"""``GET /problems/{slug}``: the problem ``type`` URIs dereference to what they mean."""

from __future__ import annotations

from pydantic import BaseModel

from kit.errors import AccordError, NotFound, problem_types
from kit.http.routing import api_router

router = api_router(tags=["operations"])


class ProblemType(BaseModel):
    type: str
    title: str
    status: int
    explanation: str


@router.get("/problems", summary="Every problem type this node answers with")
async def list_problem_types() -> list[ProblemType]:
    return [_describe(cls) for _, cls in sorted(problem_types().items())]


@router.get("/problems/{slug}", summary="What one problem type means and how to fix it")
async def problem_type(slug: str) -> ProblemType:
    cls = problem_types().get(slug)
    if cls is None:
        raise NotFound("No problem type has that name; GET /problems lists them all.")
    return _describe(cls)


def _describe(cls: type[AccordError]) -> ProblemType:
    return ProblemType(
        type=cls.type_uri(), title=cls.title, status=cls.status, explanation=cls.explanation
    )
