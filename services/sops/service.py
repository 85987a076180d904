"""SOP definitions an agency can run: the shipped ones, and those its admins uploaded, verified
out of the event loop (issue 13) and kept per agency (DESIGN §7)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.principal import Principal
from kit.db.repository import decode_text_cursor, encode_text_cursor
from kit.errors import Conflict, NotFound, ValidationFailed
from services.audit.service import actor_of
from sop.errors import DefinitionInvalid
from sop.problems import Problem
from sop.schema import Definition

from . import catalogue, repository
from .models import SopDefinition
from .verification import Verifier


class DefinitionRefused(ValidationFailed):
    slug = "sop-definition-invalid"
    title = "SOP definition refused"
    explanation = (
        "The definition does not verify: `errors` lists every problem with its line (the "
        "same report `accord sop check` prints). A problem that breaks a size limit (guard "
        "length, depth, nested comprehensions, list items; document size, nesting, YAML "
        "anchors) names it in `limit`, with the `maximum` allowed and what was `found`."
    )


def _problem(problem: Problem) -> dict[str, Any]:
    found: dict[str, Any] = {
        "location": f"line {problem.line}",
        "line": problem.line,
        "message": problem.message,
        "type": problem.code,
    }
    if problem.breach is not None:
        found |= {
            "limit": problem.breach.limit,
            "maximum": problem.breach.maximum,
            "found": problem.breach.found,
        }
    return found


def _exists_message(ref: str) -> str:
    return f"{ref} exists; publish a new version instead of editing it."


async def upload(
    session: AsyncSession, *, verifier: Verifier, principal: Principal, source: str
) -> SopDefinition:
    """Verify ``source`` out of the event loop and store it as the principal's agency's.

    Another agency holding the same ``id@version`` is no conflict: definitions are per agency,
    and one that uploads a definition another uploaded first gets a copy of its own.
    """
    try:
        verified = await verifier.verify(source)
    except DefinitionInvalid as invalid:
        problems = [_problem(p) for p in invalid.problems]
        raise DefinitionRefused(
            f"{len(problems)} problem(s) in the definition.", extra={"errors": problems}
        ) from invalid
    if verified.ref in catalogue.shipped_sources():
        raise Conflict(_exists_message(verified.ref))
    try:
        return await repository.add(
            session,
            SopDefinition(
                agency=principal.agency,
                id=verified.id,
                version=verified.version,
                title=verified.title,
                source=source,
                uploaded_by=actor_of(principal),
            ),
        )
    except repository.AlreadyStored:
        raise Conflict(_exists_message(verified.ref)) from None


async def find(session: AsyncSession, *, agency: str, ref: str) -> Definition | None:
    """The definition ``agency`` runs as ``ref``: its own upload, else a shipped one."""
    sop_id, version = catalogue.split_ref(ref)
    row = await repository.uploaded(session, agency=agency, sop_id=sop_id, version=version)
    if row is not None:
        return catalogue.parse_stored(row.source)
    source = catalogue.shipped_sources().get(ref)
    return catalogue.parse(source) if source is not None else None


async def definition(session: AsyncSession, *, agency: str, ref: str) -> Definition:
    """:func:`find`, or the problem a client can act on."""
    found = await find(session, agency=agency, ref=ref)
    if found is None:
        raise NotFound(f"No SOP definition {ref} for your agency; GET /v1/sops lists them.")
    return found


async def available(session: AsyncSession, *, agency: str) -> dict[str, str]:
    """Every definition ``agency`` can run, ref to title, shipped first."""
    refs = {ref: catalogue.parse(src).title for ref, src in catalogue.shipped_sources().items()}
    for row in await repository.of_agency(session, agency=agency):
        refs[f"{row.id}@{row.version}"] = row.title
    return refs


def page_of(
    available: dict[str, str], *, cursor: str | None, limit: int
) -> tuple[list[tuple[str, str]], str | None]:
    """``(ref, title)`` pairs in ref order after ``cursor`` (the last ref of the page before,
    as ``next_cursor`` gave it), and the next cursor."""
    after = decode_text_cursor(cursor) if cursor else None
    refs = sorted(ref for ref in available if after is None or ref > after)
    chosen = refs[:limit]
    more = len(refs) > limit
    return [(ref, available[ref]) for ref in chosen], (
        encode_text_cursor(chosen[-1]) if more and chosen else None
    )
