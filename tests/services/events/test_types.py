"""One list of event types (``services.events.types``): everything the code appends is on it
(and every type on it is in the OpenAPI document's ``webhooks``: tests/services/test_openapi.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from fastapi import FastAPI

from services.agreements.service import CHANGED
from services.events import service as events
from services.events.types import EVENT_TYPES, KIND_KEYS, KNOWN, kind_of

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
        text = path.read_text()
        if "announce(" not in text and ".append(" not in text:
            continue
        tree = ast.parse(text)
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
                # ``"diverted" if ... else "advanced"``: both.
                options = [what.body, what.orelse] if isinstance(what, ast.IfExp) else [what]
                for option in options:
                    if isinstance(option, ast.Constant) and isinstance(option.value, str):
                        found.add(f"{kind}.{option.value}")
                if isinstance(what, ast.Subscript) and "CHANGED" in ast.unparse(what.value):
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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_unknown_type_fails_its_transaction(app: FastAPI, client) -> None:
    with pytest.raises(events.UnknownEventType):
        async with app.state.db.sessions.begin() as session:
            await events.append(session, agency="unhcr", type="referral.teleported", data={})
