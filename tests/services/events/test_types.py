"""One list of event types (``services.events.types``): everything the code appends is on it,
and every type on it is in the OpenAPI document's ``webhooks`` with its ``data`` schema."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi import FastAPI

from services.agreements.service import CHANGED
from services.app import create_app
from services.events import service as events
from services.events.types import EVENT_TYPES, KIND_KEYS, KNOWN, kind_of
from tests.support.app import make_settings

ROOT = Path(__file__).resolve().parents[3]

#: The function that appends each kind of event, by the module that defines it.
ANNOUNCERS = {
    "services/referrals/erasure.py": ("erasure", 2),
    "services/journeys/service.py": ("journey", 2),
    "services/agreements/service.py": ("agreement", 3),
    "services/consents/service.py": ("consent", 2),
}


def _target(path: Path, call: ast.Call) -> str | None:
    here = path.relative_to(ROOT).as_posix()
    func = call.func
    if isinstance(func, ast.Name) and func.id == "announce":
        return here
    if isinstance(func, ast.Attribute) and func.attr == "announce":
        if isinstance(func.value, ast.Name) and func.value.id == "erasure":
            return "services/referrals/erasure.py"
        if isinstance(func.value, ast.Name) and func.value.id == "service":
            return str(Path(here).parent / "service.py")
    return None


def _appended_types() -> set[str]:
    """Every event type the code names where it appends: ``announce(..., "what")`` literals,
    ``action="what"`` passed on to an announce, ``CHANGED`` values and ``events.append(type=
    "...")`` literals. ``referral.<status>`` follows the referral's status, so every status."""
    found: set[str] = set()
    for path in sorted((ROOT / "services").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if (
                    keyword.arg == "type"
                    and isinstance(keyword.value, ast.Constant)
                    and isinstance(keyword.value.value, str)
                    and getattr(node.func, "attr", "") == "append"
                ):
                    found.add(keyword.value.value)
            target = _target(path, node)
            if target not in ANNOUNCERS:
                continue
            kind, position = ANNOUNCERS[target]
            if len(node.args) > position:
                what = node.args[position]
                if isinstance(what, ast.Constant) and isinstance(what.value, str):
                    found.add(f"{kind}.{what.value}")
                elif isinstance(what, ast.Subscript) and getattr(what.value, "id", "") == "CHANGED":
                    found |= {f"{kind}.{v}" for v in CHANGED.values()}
        if path.relative_to(ROOT).as_posix() == "services/agreements/service.py":
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.keyword)
                    and node.arg == "action"
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                ):
                    found.add(f"agreement.{node.value.value}")
    return found


def test_every_type_the_code_appends_is_on_the_list() -> None:
    appended = _appended_types()
    assert len(appended) > 20, "the scan finds the announcing calls"
    assert appended - KNOWN == set(), "add these to services/events/types.py"


def test_the_list_names_each_type_once_and_each_kind_has_its_keys() -> None:
    assert len(EVENT_TYPES) == len(KNOWN)
    assert {kind_of(t) for t in EVENT_TYPES} == set(KIND_KEYS)


def test_every_event_type_is_in_the_openapi_webhooks_with_its_data(tmp_path: Path) -> None:
    # The document needs no database: an app that never starts is enough.
    document = create_app(make_settings(f"sqlite:///{tmp_path / 'unused.db'}")).openapi()
    webhooks = document["webhooks"]
    assert set(webhooks) == KNOWN
    schemas = document["components"]["schemas"]
    for event_type, item in webhooks.items():
        operation = item["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        payload = schemas[ref.rsplit("/", 1)[-1]]
        assert payload["properties"]["type"]["const"] == event_type
        data_ref = payload["properties"]["data"]["$ref"]
        data = schemas[data_ref.rsplit("/", 1)[-1]]
        assert set(data["properties"]) == set(KIND_KEYS[kind_of(event_type)])
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_unknown_type_fails_its_transaction(app: FastAPI, client) -> None:
    with pytest.raises(events.UnknownEventType):
        async with app.state.db.sessions.begin() as session:
            await events.append(session, agency="unhcr", type="referral.teleported", data={})
