"""Agencies hosted on this node."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from . import repository
from .models import Agency


async def ensure_hosted(session: AsyncSession, *, slug: str, name: str) -> tuple[Agency, bool]:
    """Register ``slug`` as hosted here; returns the agency and whether it was created now."""
    existing = await repository.get(session, slug)
    if existing is not None:
        return existing, False
    return await repository.add(session, Agency(slug=slug, name=name)), True


def default_member_kind(agency: str) -> str:
    """A starting guess for an agency's directory entry; operators correct it with --kind."""
    if agency.startswith("gov-"):
        return "government"
    return "un_agency" if agency in {"unhcr", "iom", "ilo", "unicef", "ohchr"} else "ngo"
