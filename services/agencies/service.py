"""Agencies hosted on this node."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from . import repository
from .models import Agency


async def ensure_hosted(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    country: str | None = None,
    time_zone: str | None = None,
) -> tuple[Agency, bool]:
    """Register ``slug`` as hosted here; returns the agency and whether it was created now.

    ``country`` (a government's state, ISO 3166-1 alpha-3) is recorded when given, on an
    agency registered before too: that is how an operator names it after the upgrade. So is
    ``time_zone`` (IANA), the agency's people's default in the console ("UTC" until named).
    """
    existing = await repository.get(session, slug)
    if existing is not None:
        if country is not None and existing.country != country:
            existing.country = country
        if time_zone is not None and existing.time_zone != time_zone:
            existing.time_zone = time_zone
        await session.flush()
        return existing, False
    agency = Agency(slug=slug, name=name, country=country, time_zone=time_zone or "UTC")
    return await repository.add(session, agency), True


def member_entry(
    agency: Agency, *, kind: str, node_url: str, jwks: dict[str, Any]
) -> dict[str, Any]:
    """The agency's directory entry (DESIGN §4), for the federation operator to sign."""
    return {
        "agency": agency.slug,
        "name": agency.name,
        "kind": kind,
        **({"country": agency.country} if agency.country else {}),
        "node_url": node_url,
        "jwks": jwks,
    }


def default_member_kind(agency: str) -> str:
    """A starting guess for an agency's directory entry; operators correct it with --kind."""
    if agency.startswith("gov-"):
        return "government"
    return "un_agency" if agency in {"unhcr", "iom", "ilo", "unicef", "ohchr"} else "ngo"
