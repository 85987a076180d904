"""Build and drive an app in-process, the way the ``client`` fixture does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from kit.settings import Settings
from services.app import create_app

#: A fixed master key for tests (32 bytes, base64url); never used outside tests.
TEST_MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW9ubHktZm9yLXRlc3RzLTA"

#: Argon2id at its cheapest (1 pass, 8 KiB, 1 lane), for tests only: they hash and check
#: hundreds of passwords to test what happens around a password, not what a hash costs. A
#: production node refuses it (``Settings``); the latency test uses ``PRODUCTION_PASSWORDS``.
CHEAP_PASSWORDS: dict[str, Any] = {
    "password_time_cost": 1,
    "password_memory_cost_kib": 8,
    "password_parallelism": 1,
}
PRODUCTION_PASSWORDS: dict[str, Any] = {
    name: Settings.model_fields[name].default for name in CHEAP_PASSWORDS
}


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """A dev node on ``database_url`` whose background loops do not run (the test drives
    deliveries, sweeps and checkpoints), with the cheap password profile."""
    values: dict[str, Any] = {
        "env": "dev",
        "database_url": database_url,
        "log_json": True,
        "master_key": TEST_MASTER_KEY,
        "background_workers": False,
        **CHEAP_PASSWORDS,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def serving(
    app: FastAPI, base_url: str = "http://127.0.0.1:8000"
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an HTTP client wired to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield http


__all__ = [
    "CHEAP_PASSWORDS",
    "PRODUCTION_PASSWORDS",
    "TEST_MASTER_KEY",
    "create_app",
    "make_settings",
    "serving",
]
