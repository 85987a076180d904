"""Every route says who may call it: a scope and a role, or a place on the public list."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from auth.dependencies import Requirement
from auth.public import PUBLIC_ROUTES
from kit.http.routing import operations
from services.app import create_app
from services.console.access import ConsoleRequirement
from tests.support.app import make_settings


def requirements_of(dependant: Any) -> list[Requirement | ConsoleRequirement]:
    found: list[Requirement | ConsoleRequirement] = []
    pending = [dependant] if dependant is not None else []
    while pending:
        current = pending.pop()
        if isinstance(current.call, Requirement | ConsoleRequirement):
            found.append(current.call)
        pending.extend(current.dependencies)
    return found


def _app(tmp_path) -> FastAPI:
    return create_app(make_settings(f"sqlite:///{tmp_path / 'x.db'}"))


def test_every_route_declares_scope_and_role_or_is_public(tmp_path) -> None:
    undeclared = []
    for method, path, dependant in operations(_app(tmp_path)):
        if not requirements_of(dependant) and (method, path) not in PUBLIC_ROUTES:
            undeclared.append(f"{method} {path}")
    assert undeclared == [], "routes with no Requires(...) and not on the public list"


def test_public_list_names_only_routes_that_exist(tmp_path) -> None:
    existing = {(method, path) for method, path, _ in operations(_app(tmp_path))}
    assert existing >= PUBLIC_ROUTES, PUBLIC_ROUTES - existing


def test_public_routes_declare_no_requirement(tmp_path) -> None:
    for method, path, dependant in operations(_app(tmp_path)):
        if (method, path) in PUBLIC_ROUTES:
            assert not requirements_of(dependant), f"{method} {path} is public but declares a need"
