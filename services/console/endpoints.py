"""Every console router, in the order the menu lists them, then the one for unknown addresses."""

from __future__ import annotations

from fastapi import APIRouter

from . import (
    agreements,
    audit,
    federation,
    people,
    programmes,
    referrals,
    settings,
    unknown,
    webhooks,
)

ROUTERS: tuple[APIRouter, ...] = (
    referrals.router,
    agreements.router,
    programmes.router,
    people.router,
    federation.router,
    webhooks.router,
    audit.router,
    settings.router,
    # Last: it answers every console address the others do not.
    unknown.router,
)
