"""Which SOP definitions this node can run: the shipped ones, and those admins uploaded."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sop.loader import load_text
from sop.schema import Definition

from .models import SopDefinition


@lru_cache(maxsize=64)
def _parse(source: str, digest: str) -> Definition:
    """Parsed and verified once per text (guards compiled once, DESIGN §7)."""
    del digest  # part of the cache key only
    return load_text(source, "sop")


def parse(source: str) -> Definition:
    return _parse(source, hashlib.sha256(source.encode()).hexdigest())


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


async def source_of(session: AsyncSession, ref: str) -> str | None:
    sop_id, version = split_ref(ref)
    row = await session.get(SopDefinition, (sop_id, version))
    if row is not None:
        return row.source
    return shipped_sources().get(ref)


async def definition(session: AsyncSession, ref: str) -> Definition | None:
    source = await source_of(session, ref)
    return parse(source) if source is not None else None


async def available(session: AsyncSession) -> dict[str, str]:
    """Every definition's ref and title, shipped first."""
    refs = {ref: parse(src).title for ref, src in shipped_sources().items()}
    for row in (await session.scalars(select(SopDefinition))).all():
        refs[f"{row.id}@{row.version}"] = row.title
    return refs
