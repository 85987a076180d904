"""Every console router, in the order the menu lists them, then the one for unknown addresses."""

from __future__ import annotations

from fastapi import APIRouter

from . import agreements, audit, federation, people, programmes, referrals, unknown

ROUTERS: tuple[APIRouter, ...] = (
    referrals.router,
    agreements.router,
    programmes.router,
    people.router,
    federation.router,
    audit.router,
    # Last: it answers every console address the others do not.
    unknown.router,
)
