"""What the app's lifespan holds for requests, as named dependencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from kit.observability.metrics import HttpMetrics
from kit.settings import Settings

_T = TypeVar("_T")


def on_the_loop(read: Callable[[Request], _T]) -> Callable[[Request], Awaitable[_T]]:
    """``read`` as an ``async`` dependency. FastAPI runs a plain ``def`` dependency on its thread
    pool: a thread hand-off on every request for what is a lookup in ``app.state`` (issue 19)."""

    async def dependency(request: Request) -> _T:
        return read(request)

    return dependency


def master_key_of(request: Request) -> bytes:
    """The node master key, loaded once in the lifespan (services.app), never per request."""
    key: bytes = request.app.state.master_key
    return key


MasterKey = Annotated[bytes, Depends(on_the_loop(master_key_of))]


def settings_of(request: Request) -> Settings:
    """The settings the app was built with (``create_app(settings)``)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(on_the_loop(settings_of))]


def metrics_of(request: Request) -> HttpMetrics:
    """The app's own metrics registry (one per app, so two apps in one process never mix)."""
    metrics: HttpMetrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[HttpMetrics, Depends(on_the_loop(metrics_of))]


def migration_heads_of(request: Request) -> frozenset[str]:
    """The migration heads this code expects, read once at start."""
    heads: frozenset[str] = request.app.state.migration_heads
    return heads


MigrationHeads = Annotated[frozenset[str], Depends(on_the_loop(migration_heads_of))]
