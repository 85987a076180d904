"""The client and the node agree: every operation the client calls exists in the node's
OpenAPI document with that method, every field of its request models is one the node accepts
with a type it accepts (and every field the node requires is sent), and every field of its
response models is one the node answers with a type the client can read."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from accord_client import OPERATIONS, Operation
from services.app import create_app
from tests.support.app import make_settings


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("openapi") / "unused.db"
    app: FastAPI = create_app(make_settings(f"sqlite:///{path}"))
    return app.openapi()


def _label(op: Operation) -> str:
    return f"{op.method} {op.path}"


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _types(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, defs)
    if "anyOf" in schema or "oneOf" in schema:
        return set().union(*(_types(s, defs) for s in schema.get("anyOf", schema.get("oneOf"))))
    if "const" in schema:
        return {type(schema["const"]).__name__.replace("str", "string")}
    if "enum" in schema:
        return {"string"}
    kind = schema.get("type")
    if kind is None:
        return {"object"} if "properties" in schema else {"any"}
    return set(kind) if isinstance(kind, list) else {kind}


def _within(narrow: set[str], wide: set[str]) -> bool:
    if "any" in wide:
        return True
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow - {"any"})


def _members(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        return [m for s in schema["anyOf"] for m in _members(s, defs)]
    return [schema]


def _compare(
    client: dict[str, Any],
    client_defs: dict[str, Any],
    server: dict[str, Any],
    server_defs: dict[str, Any],
    *,
    sending: bool,
    where: str,
) -> list[str]:
    faults: list[str] = []
    client_types, server_types = _types(client, client_defs), _types(server, server_defs)
    if sending:
        client_types -= {"null"}  # Request.body() leaves None out: null is never sent
    ok = _within(client_types, server_types) if sending else _within(server_types, client_types)
    if not ok:
        faults.append(f"{where}: client {sorted(client_types)}, node {sorted(server_types)}")
        return faults
    objects = [
        (c, s)
        for c in _members(client, client_defs)
        for s in _members(server, server_defs)
        if "properties" in c and "properties" in s
    ]
    for c, s in objects[:1]:
        for name, field in c["properties"].items():
            if name not in s["properties"]:
                faults.append(f"{where}.{name}: the node has no such field")
                continue
            faults += _compare(
                field,
                client_defs,
                s["properties"][name],
                server_defs,
                sending=sending,
                where=f"{where}.{name}",
            )
        if sending:
            missing = set(s.get("required", [])) - set(c["properties"])
            faults += [f"{where}.{name}: required by the node, never sent" for name in missing]
        else:
            unsure = set(c.get("required", [])) - set(s.get("required", []))
            faults += [f"{where}.{name}: required here, optional at the node" for name in unsure]
    arrays = [
        (c, s)
        for c in _members(client, client_defs)
        for s in _members(server, server_defs)
        if c.get("type") == "array" and s.get("type") == "array"
    ]
    for c, s in arrays[:1]:
        faults += _compare(
            c.get("items", {}),
            client_defs,
            s.get("items", {}),
            server_defs,
            sending=sending,
            where=f"{where}[]",
        )
    return faults


def _model_schema(model: type[BaseModel], mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    schema = model.model_json_schema(mode=mode, ref_template="#/$defs/{model}")  # type: ignore[arg-type]
    return schema, {**schema.get("$defs", {}), model.__name__: schema}


def _json_schema(content: dict[str, Any]) -> dict[str, Any] | None:
    media = content.get("content", {}).get("application/json")
    return media["schema"] if media else None


def test_every_operation_the_client_calls_exists_at_the_node(document: dict[str, Any]) -> None:
    missing = [
        _label(op)
        for op in OPERATIONS
        if op.method.lower() not in document["paths"].get(op.path, {})
    ]
    assert not missing


@pytest.mark.parametrize("op", OPERATIONS, ids=_label)
def test_the_client_models_fit_the_node_schemas(document: dict[str, Any], op: Operation) -> None:
    operation = document["paths"].get(op.path, {}).get(op.method.lower())
    assert operation is not None, f"{_label(op)} is not served by the node"
    defs = document["components"]["schemas"]
    faults: list[str] = []
    if op.body is not None:
        server = _json_schema(operation.get("requestBody", {}))
        assert server is not None, f"{_label(op)} takes no JSON body at the node"
        client, client_defs = _model_schema(op.body, "serialization")
        faults += _compare(client, client_defs, server, defs, sending=True, where="body")
    if op.result is not None:
        success = [v for k, v in operation["responses"].items() if k.startswith("2")]
        server = _json_schema(success[0])
        assert server is not None, f"{_label(op)} answers no JSON"
        client, client_defs = _model_schema(op.result, "validation")
        faults += _compare(client, client_defs, server, defs, sending=False, where="answer")
    assert not faults, "\n".join(faults)


def test_the_checker_notices_a_field_the_node_does_not_have(document: dict[str, Any]) -> None:
    from accord_client.models import CaseCreate

    class Wrong(CaseCreate):
        nickname: str

    server = _json_schema(document["paths"]["/v1/cases"]["post"]["requestBody"])
    assert server is not None
    client, client_defs = _model_schema(Wrong, "serialization")
    faults = _compare(
        client, client_defs, server, document["components"]["schemas"], sending=True, where="body"
    )
    assert faults == ["body.nickname: the node has no such field"]
