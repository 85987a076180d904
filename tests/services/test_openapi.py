"""The OpenAPI document tells the truth (issue 14).

The document is checked as a document (valid OpenAPI 3.1, no untyped schema, every operation
named, summarised and secured, every error a Problem, every list a page) and then as a promise:
schemathesis generates requests from it and sends them, with a token of each role, to a node
in this process; no answer may be a 5xx or fall outside what the document says.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from auth.openapi import requirements_of
from auth.public import PUBLIC_ROUTES
from auth.scopes import ALL_ROLES, ALL_SCOPES
from kit.db.repository import MAX_LIMIT
from services.app import create_app
from services.events.types import KIND_KEYS, KNOWN, kind_of
from tests.support.app import make_settings, serving
from tests.support.federation import join, member_settings, new_root_key
from tests.support.identity import BASE_URL, bearer, client_token, seed_agency, seed_client

#: Schemas that are JSON objects free-form by design, each with the reason.
FREE_FORM: dict[str, str] = {
    "#/components/schemas/JsonValue": (
        "a JSON value of an envelope's body in the evidence of a referral: whatever its "
        "message type carried (non-personal fields, DESIGN §4)"
    ),
    "#/components/schemas/AuditEventOut/properties/detail": (
        "what an audit event records beyond its columns differs per action (a digest, a "
        "status, a superseded version); it holds ids and statuses, never personal data"
    ),
    "POST /federation/v1/messages body application/json/properties/body": (
        "an envelope's body is whatever its message type carries (non-personal fields, "
        "DESIGN §4); the receiving handler of that type validates it"
    ),
    "POST /federation/v1/messages body application/json/properties/body/additionalProperties": (
        "any JSON value, for the same reason"
    ),
    "POST /federation/v1/batches body application/json/properties/envelopes/items/properties/"
    "body": "each envelope of a batch is an envelope: its body is free-form for the same reason",
    "POST /federation/v1/batches body application/json/properties/envelopes/items/properties/body/"
    "additionalProperties": "any JSON value, for the same reason",
}

#: Operations of the packages being restructured (services/referrals; services/journeys,
#: being split into sops, programmes and journeys), which type their bodies and page their
#: lists as part of that work. Each is listed with the document checks it fails today
#: ("typed": an untyped schema; "page": a list that is not a bounded page); every other check
#: applies to them already. The list only shrinks: an entry that passes fails
#: ``test_pending_entries_still_fail_their_checks``. The fuzzing leaves their packages out.
PENDING: dict[str, set[str]] = {}
NOT_FUZZED: dict[str, str] = {}


#: Operations whose parameters or body the handler reads itself, not FastAPI: no 422.
READ_BY_HANDLER = {
    "POST /oauth/token",
    "POST /oauth/revoke",
    "POST /oauth/introspect",
    "GET /oauth/authorize",
    "POST /federation/v1/messages",
    "POST /federation/v1/batches",
}


# --- the document ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    # The document needs no database: it is built from the routes alone.
    path = tmp_path_factory.mktemp("openapi") / "unused.db"
    return create_app(make_settings(f"sqlite:///{path}"))


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations_of(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def pending(label: str, check: str) -> bool:
    return check in PENDING.get(label, set())


def test_document_validates_as_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


_ANNOTATIONS = {"title", "description", "default", "examples", "deprecated", "format"}
_ANNOTATIONS |= {"readOnly", "writeOnly"}


def _untyped(schema: dict[str, Any]) -> bool:
    """``{}`` (any value), or an object that names none of its members and allows any."""
    if not set(schema) - _ANNOTATIONS:
        return True
    if schema.get("type") == "object" or (
        "additionalProperties" in schema and "type" not in schema
    ):
        named = "properties" in schema or "patternProperties" in schema
        anything = schema.get("additionalProperties", True) in (True, {})
        return not named and anything
    return False


def _walk(schema: Any, where: str) -> Iterator[str]:
    if not isinstance(schema, dict):
        return
    if _untyped(schema):
        yield where
    for key in ("items", "additionalProperties", "not", "contains", "propertyNames"):
        if isinstance(schema.get(key), dict):
            yield from _walk(schema[key], f"{where}/{key}")
    for key in ("properties", "patternProperties", "$defs"):
        for name, sub in (schema.get(key) or {}).items():
            yield from _walk(sub, f"{where}/{key}/{name}")
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key) or []):
            yield from _walk(sub, f"{where}/{key}/{i}")


def _refs(node: Any) -> set[str]:
    return set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(node)))


def _schemas_of(document: dict[str, Any], label: str, operation: dict[str, Any]) -> set[str]:
    """The component schemas an operation uses, directly or through others."""
    components = document["components"]["schemas"]
    found: set[str] = set()
    todo = _refs({k: v for k, v in operation.items() if k != "responses"})
    todo |= _refs({s: r for s, r in operation.get("responses", {}).items() if s[:1] in "23"})
    while todo:
        name = todo.pop()
        if name not in found and name in components:
            found.add(name)
            todo |= _refs(components[name])
    return found


def _inline_places(label: str, operation: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for parameter in operation.get("parameters", []):
        yield f"{label} param {parameter['name']}", parameter.get("schema")
    for media, content in operation.get("requestBody", {}).get("content", {}).items():
        yield f"{label} body {media}", content.get("schema")
    for status, response in operation.get("responses", {}).items():
        for media, content in (response.get("content") or {}).items():
            yield f"{label} {status} {media}", content.get("schema")


def untyped_of(document: dict[str, Any], label: str, operation: dict[str, Any]) -> list[str]:
    """Every untyped schema an operation takes or answers, inline or through components."""
    found = [
        w for prefix, schema in _inline_places(label, operation) for w in _walk(schema, prefix)
    ]
    for name in _schemas_of(document, label, operation):
        schema = document["components"]["schemas"][name]
        found += _walk(schema, f"#/components/schemas/{name}")
    return [where for where in found if where not in FREE_FORM]


def test_no_schema_is_an_untyped_object(document: dict[str, Any]) -> None:
    untyped = {
        where: label
        for label, operation in operations_of(document)
        if not pending(label, "typed")
        for where in untyped_of(document, label, operation)
    }
    assert untyped == {}, "untyped schemas: type them, or list them in FREE_FORM with why"


def test_free_form_exceptions_are_still_needed(document: dict[str, Any]) -> None:
    found = set()
    for name, schema in document["components"]["schemas"].items():
        found |= set(_walk(schema, f"#/components/schemas/{name}"))
    for label, operation in operations_of(document):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            found |= set(_walk(content.get("schema"), f"{label} body {media}"))
    assert set(FREE_FORM) <= found, set(FREE_FORM) - found


def test_every_operation_has_an_id_a_summary_and_its_security(
    app: FastAPI, document: dict[str, Any]
) -> None:
    ids = [op["operationId"] for _, op in operations_of(document)]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids), ids
    scheme = document["components"]["securitySchemes"]["OAuth2"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "/oauth/token"
    assert scheme["flows"]["authorizationCode"]["authorizationUrl"] == "/oauth/authorize"
    for flow in scheme["flows"].values():
        assert set(flow["scopes"]) == ALL_SCOPES
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not getattr(route, "include_in_schema", False):
            continue
        for method in sorted(context.methods or []):
            label = f"{method} {context.path}"
            operation = document["paths"][context.path][method.lower()]
            # Written by hand: FastAPI's default ("Create Client") says nothing.
            assert getattr(route, "summary", None), f"{label} has no summary"
            needs = requirements_of(context.dependant)
            if (method, context.path) in PUBLIC_ROUTES:
                assert "security" not in operation, label
                continue
            assert operation["security"] == [{"OAuth2": sorted({r.scope for r in needs})}], label
            roles = sorted(set.intersection(*(set(r.roles) for r in needs)))
            assert operation["x-roles"] == roles, label
            assert f"Roles: {' or '.join(roles)}." in operation["description"], label


def test_every_event_type_is_a_webhook_with_its_data(document: dict[str, Any]) -> None:
    """Every type on ``services.events.types`` (which tests/services/events/test_types.py holds
    every appended type to) is in ``webhooks``, with its ``data`` keys and the signing headers."""
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


def test_every_error_response_is_a_problem(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    assert {"instance", "violations", "errors", "request_id"} <= set(problem["properties"])
    for label, operation in operations_of(document):
        responses = operation["responses"]
        assert "500" in responses, label
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), label
        if operation.get("parameters") or operation.get("requestBody"):
            # Those that read their own input (authlib; the bounded federation body) say
            # 400 instead, as RFC 6749 §5.2 and DESIGN §4 want.
            assert "422" in responses or label in READ_BY_HANDLER, label
        for status, response in responses.items():
            if status[:1] in "45":
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, f"{label} {status}"


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return document["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else schema


def _not_a_page(document: dict[str, Any], label: str, operation: dict[str, Any]) -> str | None:
    """Why a list operation's answer is not a bounded page, or None."""
    ok = operation["responses"].get("200", {}).get("content", {}).get("application/json")
    if not ok:
        return None
    schema = _resolve(document, ok["schema"])
    if schema.get("type") == "array":
        return "answers a bare list, not a page"
    parameters = {p["name"]: p for p in operation.get("parameters", [])}
    if set(schema.get("properties", {})) >= {"items", "next_cursor"}:
        if not set(schema["required"]) >= {"items", "next_cursor", "limit"}:
            return "a page without its limit"
        # A feed read oldest first resumes `after` an item (GET /v1/events, DESIGN §10).
        if not ({"cursor", "limit"} <= set(parameters) or {"after", "limit"} <= set(parameters)):
            return "a page without cursor and limit parameters"
        if parameters["limit"]["schema"]["maximum"] > MAX_LIMIT:
            return f"a page of more than {MAX_LIMIT}"
    return None


def test_every_list_is_a_bounded_page(document: dict[str, Any]) -> None:
    found = {
        label: why
        for label, operation in operations_of(document)
        if not pending(label, "page") and (why := _not_a_page(document, label, operation))
    }
    assert found == {}


def test_integer_parameters_are_bounded(document: dict[str, Any]) -> None:
    """An unbounded integer reached the database as -62834051705837969211392 and failed."""
    for label, operation in operations_of(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            options = schema.get("anyOf", [schema])
            for option in options:
                if option.get("type") == "integer":
                    assert {"minimum", "maximum"} <= set(option), (label, parameter["name"])


def test_creating_operations_link_to_those_that_take_their_id(document: dict[str, Any]) -> None:
    links = document["paths"]["/v1/cases"]["post"]["responses"]["201"]["links"]
    assert links["cases_get"] == {
        "operationId": "cases_get",
        "parameters": {"case_id": "$response.body#/id"},
        "description": "The `id` created is the `case_id` of GET /v1/cases/{case_id}.",
    }
    assert {"consents_give", "cases_replace_data"} <= set(links)
    consent = document["paths"]["/v1/cases/{case_id}/consents"]["post"]["responses"]["201"]
    assert set(consent["links"]) == {"consents_get", "consents_withdraw", "consents_narrow"}
    agreement = document["paths"]["/v1/agreements"]["post"]["responses"]["201"]["links"]
    assert "agreements_sign" in agreement
    client = document["paths"]["/v1/clients"]["post"]["responses"]["201"]["links"]
    assert client["clients_get"]["parameters"] == {"client_pk": "$response.body#/id"}


def test_pending_entries_still_fail_their_checks(document: dict[str, Any]) -> None:
    """The list only shrinks: an operation that passes a check it is listed for is removed."""
    labels = {label for label, _ in operations_of(document)}
    assert set(PENDING) <= labels, set(PENDING) - labels
    for label, operation in operations_of(document):
        checks = PENDING.get(label, set())
        if "page" in checks:
            assert _not_a_page(document, label, operation), f"{label}: remove 'page'"
        if "typed" in checks:
            assert untyped_of(document, label, operation), f"{label}: remove 'typed'"


# --- the promise: fuzzing ---------------------------------------------------------------------

ROLES = sorted(ALL_ROLES)
MEMBERS = ["unhcr", "iom"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Generated examples per operation, then at most this many of schemathesis' coverage cases
#: (boundary values, valid and not: a version of 0 or 2**31, a string too long): enough to
#: reach the documented answers of each, few enough that the run stays well under a minute on
#: two shared cores.
EXAMPLES = 20
COVERAGE = 12


@dataclass
class Node:
    app: FastAPI
    http: httpx.AsyncClient
    tokens: dict[str, str]
    known: dict[str, list[str]] = field(default_factory=dict)


async def _seed(node: Node) -> None:
    """Something to address: a case, a consent, an agreement, and a user and a client other
    than those whose tokens the run uses (fuzzing may disable them, or rotate a secret)."""
    from sqlalchemy import select

    from auth.models import ApiClient
    from tests.support.agreements import terms
    from tests.support.cases import seed_case, seed_consent
    from tests.support.identity import seed_user

    case_id = await seed_case(node.app, "unhcr")
    consent_id = await seed_consent(node.app, "unhcr", case_id)
    admin = bearer(node.tokens["admin"])
    drafted = await node.http.post("/v1/agreements", json=terms(MEMBERS), headers=admin)
    assert drafted.status_code == 201, drafted.text
    user = await seed_user(node.app, "unhcr", "target@unhcr.example", roles=["caseworker"])
    target = await seed_client(node.app, "unhcr", roles=["caseworker"])
    async with node.app.state.db.sessions() as session:
        client_pk = (
            await session.scalars(
                select(ApiClient.id).where(ApiClient.client_id == target.client_id)
            )
        ).one()
    node.known = {
        "case_id": [case_id],
        "consent_id": [consent_id],
        "agreement_id": [drafted.json()["id"]],
        "user_id": [user.id],
        "client_pk": [str(client_pk)],
        "category": ["identity", "skills"],
        "slug": ["not-found", "validation-error"],
    }


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What schemathesis hands ``requests``, for ``httpx``."""
    out = {k: kwargs[k] for k in ("method", "url", "headers", "params") if kwargs.get(k)}
    if kwargs.get("cookies"):
        out.setdefault("headers", {})["Cookie"] = "; ".join(
            f"{k}={v}" for k, v in kwargs["cookies"].items()
        )
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    if out.get("headers"):
        # A header drawn outside ASCII (the Idempotency-Key's negative cases) is bytes on the
        # wire (RFC 9110 §5.5, obs-text); httpx sends such a value only when given bytes.
        out["headers"] = {
            k: v.encode() if isinstance(v, str) and not v.isascii() else v
            for k, v in out["headers"].items()
        }
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        out["content"] = data
    elif data is not None:
        out["data"] = data
    return out


def _fuzzed(app: FastAPI) -> set[str]:
    labels = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        module = getattr(getattr(route, "endpoint", None), "__module__", "")
        if getattr(route, "include_in_schema", False) and not module.startswith(tuple(NOT_FUZZED)):
            labels |= {f"{m} {context.path}" for m in context.methods or []}
    return labels


def test_fuzzing_finds_no_server_error_and_no_answer_outside_the_document(
    sqlite_template: Path, tmp_path: Path
) -> None:
    import shutil

    database = tmp_path / "accord.db"
    shutil.copyfile(sqlite_template, database)
    root = new_root_key()
    app = create_app(member_settings(f"sqlite:///{database}", tmp_path, root))
    failures: list[str] = []
    with asyncio.Runner() as runner:
        serving_app = serving(app)
        http = runner.run(serving_app.__aenter__())
        try:
            runner.run(join(app, tmp_path / "directory.json", root, BASE_URL, MEMBERS))
            tokens = {}
            for role in ROLES:
                runner.run(seed_agency(app, "unhcr"))
                system = runner.run(seed_client(app, "unhcr", roles=[role]))
                tokens[role] = runner.run(client_token(http, system))
            node = Node(app=app, http=http, tokens=tokens)
            runner.run(_seed(node))
            schema = schemathesis.openapi.from_dict(app.openapi())
            wanted = _fuzzed(app)
            for result in schema.get_all_operations():
                operation = result.ok()
                if f"{operation.method.upper()} {operation.path}" not in wanted:
                    continue
                failures.extend(_fuzz(runner, node, operation))
        finally:
            runner.run(serving_app.__aexit__(None, None, None))
    assert failures == [], "\n\n".join(failures)


def _fuzz(runner: asyncio.Runner, node: Node, operation: Any) -> list[str]:
    label = f"{operation.method.upper()} {operation.path}"
    names = re.findall(r"\{(\w+)\}", operation.path)
    strategies = [operation.as_strategy()]
    if names and all(node.known.get(n) for n in names):
        strategies.append(
            st.fixed_dictionaries({n: st.sampled_from(node.known[n]) for n in names}).flatmap(
                lambda known: operation.as_strategy(path_parameters=known)
            )
        )
    sent_as: list[str] = []
    # Half the examples as a role the operation admits, so they get past 401 and 403.
    allowed = operation.definition.raw.get("x-roles") or ROLES
    roles = st.one_of(st.sampled_from(allowed), st.sampled_from([*ROLES, None]))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies), role=roles)
    def example(case: Any, role: str | None) -> None:
        sent_as.append(role or "anonymous")
        headers = bearer(node.tokens[role]) if role else {}
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
        response = runner.run(node.http.request(**_httpx_kwargs(kwargs)))
        case.validate_response(response, checks=CHECKS)

    try:
        example()
    # Schemathesis reports its findings as an exception group; hypothesis re-raises the first
    # failing example last, so `sent_as[-1]` is the role it was sent as.
    except (Exception, BaseExceptionGroup) as failure:
        return [f"{label} as {sent_as[-1] if sent_as else '?'}:\n{failure}"]
    return _cover(runner, node, operation, allowed[0])


#: What schemathesis sent in issue 14, and the database could not hold.
HUGE = -62834051705837969211392


def _out_of_range(node: Node, operation: Any) -> list[Any]:
    """An integer beyond any column in each integer query parameter, on a resource that
    exists: a bound the document forgot shows up as a 500 here, whatever the fuzzing drew."""
    names = re.findall(r"\{(\w+)\}", operation.path)
    if not all(node.known.get(n) for n in names):
        return []
    path = {n: node.known[n][0] for n in names}
    found = []
    for parameter in operation.definition.raw.get("parameters", []):
        schema = parameter.get("schema", {})
        if parameter["in"] == "query" and "integer" in json.dumps(schema):
            found.append(operation.Case(path_parameters=path, query={parameter["name"]: HUGE}))
    return found


def _cover(runner: asyncio.Runner, node: Node, operation: Any, role: str) -> list[str]:
    """Boundary cases, as a role the operation admits; spread over all of them when many."""
    schema = operation.schema
    config = schema.config.generation_for(operation=operation, phase="coverage")
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    cases = list(
        schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config)
    )
    cases = cases[:: max(1, len(cases) // COVERAGE)][:COVERAGE] + _out_of_range(node, operation)
    for case in cases:
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=bearer(node.tokens[role]))
        response = runner.run(node.http.request(**_httpx_kwargs(kwargs)))
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as failure:
            return [f"{operation.method.upper()} {operation.path} as {role}:\n{failure}"]
    return []
