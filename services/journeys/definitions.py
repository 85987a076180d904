"""Which SOP definitions an agency can run: the shipped ones, and those its admins uploaded.

An uploaded definition belongs to the uploader's agency (issue 13). Every query here takes the
agency and can only return its rows, so another agency on the node neither lists nor runs it
unless it uploads the same definition itself. The shipped definitions serve every agency.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sop.errors import DefinitionInvalid
from sop.loader import load_text, parse_definition
from sop.schema import Definition

from .models import SopDefinition


@lru_cache(maxsize=64)
def _parse(source: str, digest: str) -> Definition:
    """Parsed and verified once per text (guards compiled once, DESIGN §7)."""
    del digest  # part of the cache key only
    return load_text(source, "sop")


def parse(source: str) -> Definition:
    return _parse(source, hashlib.sha256(source.encode()).hexdigest())


@lru_cache(maxsize=256)
def _parse_stored(source: str, digest: str) -> Definition:
    del digest  # part of the cache key only
    parsed = parse_definition(source, "sop")
    if parsed.definition is None or parsed.problems:
        raise DefinitionInvalid(parsed.problems)
    return parsed.definition


def parse_stored(source: str) -> Definition:
    """A stored definition, parsed but not verified again.

    It was verified when it was uploaded, in a process with a time limit; verifying it again
    here would redo that work inside the event loop. A guard still cannot run past the limits
    of ``sop.limits``: they are checked again when the engine first compiles it.
    """
    return _parse_stored(source, hashlib.sha256(source.encode()).hexdigest())


def shipped_sources() -> dict[str, str]:
    """``{id@version: YAML}`` of every definition shipped in ``sop/definitions``."""
    found = {}
    for entry in resources.files("sop.definitions").iterdir():
        if entry.name.endswith(".yaml"):
            source = entry.read_text()
            definition = parse(source)
            found[definition.ref] = source
    return found


def split_ref(ref: str) -> tuple[str, str]:
    sop_id, _, version = ref.partition("@")
    return sop_id, version


async def uploaded(session: AsyncSession, ref: str, *, agency: str) -> SopDefinition | None:
    """The definition ``agency`` uploaded as ``ref``, if it did."""
    sop_id, version = split_ref(ref)
    return await session.get(SopDefinition, (agency, sop_id, version))


async def exists(session: AsyncSession, ref: str, *, agency: str) -> bool:
    """Whether ``ref`` already names a definition for ``agency`` (its own, or shipped)."""
    return ref in shipped_sources() or await uploaded(session, ref, agency=agency) is not None


async def definition(session: AsyncSession, ref: str, *, agency: str) -> Definition | None:
    """The definition ``agency`` runs as ``ref``: its own upload, else a shipped one."""
    row = await uploaded(session, ref, agency=agency)
    if row is not None:
        return parse_stored(row.source)
    source = shipped_sources().get(ref)
    return parse(source) if source is not None else None


async def available(session: AsyncSession, *, agency: str) -> dict[str, str]:
    """Every definition ``agency`` can run, ref to title, shipped first."""
    refs = {ref: parse(src).title for ref, src in shipped_sources().items()}
    rows = await session.scalars(
        select(SopDefinition)
        .where(SopDefinition.agency == agency)
        .order_by(SopDefinition.id, SopDefinition.created_at)
    )
    for row in rows.all():
        refs[f"{row.id}@{row.version}"] = row.title
    return refs
