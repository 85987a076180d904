"""What the app's lifespan holds for requests, as named dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kit.observability.metrics import HttpMetrics
from kit.settings import Settings


def master_key_of(request: Request) -> bytes:
    """The node master key, loaded once in the lifespan (services.app), never per request."""
    key: bytes = request.app.state.master_key
    return key


MasterKey = Annotated[bytes, Depends(master_key_of)]


def settings_of(request: Request) -> Settings:
    """The settings the app was built with (``create_app(settings)``)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_of)]


def metrics_of(request: Request) -> HttpMetrics:
    """The app's own metrics registry (one per app, so two apps in one process never mix)."""
    metrics: HttpMetrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[HttpMetrics, Depends(metrics_of)]


def migration_heads_of(request: Request) -> frozenset[str]:
    """The migration heads this code expects, read once at start."""
    heads: frozenset[str] = request.app.state.migration_heads
    return heads


MigrationHeads = Annotated[frozenset[str], Depends(migration_heads_of)]
