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


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "dev",
        "database_url": database_url,
        "log_json": True,
        "master_key": TEST_MASTER_KEY,
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


__all__ = ["TEST_MASTER_KEY", "create_app", "make_settings", "serving"]
