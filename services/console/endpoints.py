"""Every console router, in the order the menu lists them."""

from __future__ import annotations

from fastapi import APIRouter

from . import agreements, referrals

ROUTERS: tuple[APIRouter, ...] = (referrals.router, agreements.router)
