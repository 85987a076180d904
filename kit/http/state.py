"""What the app's lifespan holds for requests, as named dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kit.settings import Settings


def master_key(request: Request) -> bytes:
    """The node master key, loaded once in the lifespan (services.app), never per request."""
    key: bytes = request.app.state.master_key
    return key


MasterKey = Annotated[bytes, Depends(master_key)]


def settings_of(request: Request) -> Settings:
    """The settings the app was built with (``create_app(settings)``)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_of)]
