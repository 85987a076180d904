"""Every console router, in the order the menu lists them."""

from __future__ import annotations

from fastapi import APIRouter

from . import agreements, audit, federation, people, programmes, referrals, settings

ROUTERS: tuple[APIRouter, ...] = (
    referrals.router,
    agreements.router,
    programmes.router,
    people.router,
    federation.router,
    audit.router,
    settings.router,
)
