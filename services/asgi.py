"""Entry point for ASGI servers: settings come from the environment of the worker process."""

from __future__ import annotations

from fastapi import FastAPI

from kit.settings import Settings
from services.app import create_app


def create_app_from_environment() -> FastAPI:
    return create_app(Settings())
