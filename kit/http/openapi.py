"""The OpenAPI document tells the truth: one pass over FastAPI's document, for every route.

FastAPI describes what it can see in a handler's signature. What it cannot see is added here,
the same way for every operation, so no package has to remember it:

- every 4xx and 5xx response is an RFC 9457 problem (``application/problem+json``, the
  :class:`~kit.http.schemas.Problem` schema), never FastAPI's ``HTTPValidationError``, which
  this node never sends (``kit.http.problems`` renders validation errors as problems);
- the failures every operation of a kind can meet are declared on it: 422 where it takes
  parameters or a body, 400/413/415 where it takes a JSON body, 401/403 where it needs a
  token, 500 everywhere (a bug, with a ``request_id`` to quote);
- a creating operation (201 with an ``id``) has ``links`` to every operation that takes that
  id in its path, so a client (or a fuzzer) can follow from one to the others;
- ``operationId`` is ``<tag>_<verb>`` (:func:`operation_id`), readable and stable.

Packages add facts of their own through hooks (``auth`` writes each operation's roles).
"""

from __future__ import annotations

import http
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, params
from fastapi.routing import RouteContext, iter_route_contexts
from pydantic import BaseModel

from kit.errors import PROBLEM_MEDIA_TYPE
from kit.http.schemas import Problem

#: Called once per documented operation with the route it came from (``dependant``,
#: ``path``, ``methods``) and the operation object, to add what only the caller knows.
OperationHook = Callable[[RouteContext, dict[str, Any]], None]

PROBLEM_REF = "#/components/schemas/Problem"
_REF = re.compile(r'"\$ref": "#/components/schemas/([^"]+)"')

#: Why each failure every operation of a kind can meet happens; a route's own description of
#: the same status wins.
_COMMON = {
    "400": "Malformed JSON body.",
    "401": "No token, or an invalid, expired or revoked one (see `WWW-Authenticate`).",
    "404": "Nothing at this path for the caller (no such id, or not your agency's).",
    "403": "The token lacks the scope, or the caller the role, this operation needs.",
    "413": "The body exceeds the node's limit.",
    "415": "The body was not sent as `application/json`.",
    "422": "A parameter or body field is invalid; `errors` names each one.",
    "500": "An unexpected error (a bug): nothing was changed; quote `request_id`.",
}


def operation_id(route: Any) -> str:
    """``<tag>_<name>``: the route's first tag, then its function name without the tag's
    own words (``list_agreements`` under ``agreements`` is ``agreements_list``).

    Set as the app's ``generate_unique_id_function``; a route's explicit ``operation_id``
    still wins. Uniqueness is checked by the suite (tests/services/test_openapi.py).
    """
    tag = str(route.tags[0]) if route.tags else ""
    name: str = route.name
    if not tag:
        return name
    words = {tag, tag.removesuffix("s"), tag.replace("-", "_")}
    rest = [part for part in name.split("_") if part not in words]
    return f"{tag.replace('-', '_')}_{'_'.join(rest) or name}"


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its definitions written in place, for a body a handler
    reads itself (``openapi_extra``), where FastAPI collects no components."""
    generated = model.model_json_schema()
    definitions = generated.pop("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**expand(definitions[ref.removeprefix("#/$defs/")]), **expand(rest)}
            return {key: expand(value) for key, value in node.items()}
        if isinstance(node, list):
            return [expand(item) for item in node]
        return node

    expanded: dict[str, Any] = expand(generated)
    return expanded


def install_openapi(app: FastAPI, *, hooks: Sequence[OperationHook] = ()) -> None:
    """Build the document once, on first request, through FastAPI and then :func:`refine`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            refine(document, iter_route_contexts(app.routes), hooks=hooks)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def refine(
    document: dict[str, Any],
    routes: Iterable[RouteContext],
    *,
    hooks: Sequence[OperationHook] = (),
) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    # Before the problem responses name "Problem": a schema FastAPI listed under that name but
    # that nothing uses (an enum documented inline) must not look like a clash.
    _drop_unreferenced(document, schemas)
    for context in routes:
        path = context.path_format or context.path
        if path not in paths or not getattr(context, "dependant", None):
            continue
        for method in sorted(context.methods or []):
            operation = paths[path].get(method.lower())
            if operation is not None:
                _declare_failures(operation, _inputs(context.dependant))
                for hook in hooks:
                    hook(context, operation)
    _drop_unreferenced(document, schemas)
    _add_problem_schemas(schemas)
    _link_creations(paths, schemas)


def _drop_unreferenced(document: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Keep only the schemas some operation uses, directly or through another schema: FastAPI
    also lists those of every model it saw (its ``HTTPValidationError``, enums a field
    documents inline), which would describe nothing this node sends."""
    wanted: set[str] = set()
    # The ``webhooks`` section (OpenAPI 3.1) uses schemas too: what a subscriber receives.
    used = {part: document.get(part, {}) for part in ("paths", "webhooks")}
    pending = set(_REF.findall(json.dumps(used)))
    while pending:
        name = pending.pop()
        if name in wanted or name not in schemas:
            continue
        wanted.add(name)
        pending |= set(_REF.findall(json.dumps(schemas[name])))
    for name in list(schemas):
        if name not in wanted:
            del schemas[name]


def _add_problem_schemas(schemas: dict[str, Any]) -> None:
    generated = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    found = {"Problem": {k: v for k, v in generated.items() if k != "$defs"}}
    found.update(generated.get("$defs", {}))
    for name, schema in found.items():
        if name in schemas and schemas[name] != schema:
            raise RuntimeError(
                f"Two schemas are named {name}: rename the model that is not kit.http.schemas'"
            )
        schemas[name] = schema


def _inputs(dependant: Any) -> tuple[bool, bool, bool]:
    """Whether FastAPI validates parameters or a body of this route (then it can answer 422),
    whether it takes a JSON body (then 400, 413 and 415 too), and whether it has path
    parameters (then what they name may not exist: 404)."""
    validated = json_body = in_path = False
    pending = [dependant]
    while pending:
        current = pending.pop()
        kinds = ("path_params", "query_params", "header_params", "cookie_params", "body_params")
        validated = validated or any(getattr(current, kind, None) for kind in kinds)
        in_path = in_path or bool(current.path_params)
        json_body = json_body or any(
            not isinstance(p.field_info, params.Form) for p in current.body_params
        )
        pending.extend(current.dependencies)
    return validated, json_body, in_path


def _declare_failures(operation: dict[str, Any], inputs: tuple[bool, bool, bool]) -> None:
    validated, json_body, in_path = inputs
    responses: dict[str, Any] = operation.setdefault("responses", {})
    common = ["500"]
    if validated:
        common.append("422")
    if json_body:
        common += ["400", "413", "415"]
    if in_path:
        common.append("404")
    if operation.get("security"):
        common += ["401", "403"]
    for status in common:
        responses.setdefault(status, {"description": _COMMON[status]})
    for status, response in responses.items():
        if not _is_failure(status):
            continue
        description = response.get("description")
        if not description or description == "Additional Response":
            response["description"] = _COMMON.get(status) or _phrase(status)
        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    operation["responses"] = dict(sorted(responses.items()))


def _is_failure(status: str) -> bool:
    return status[:1] in {"4", "5"}


def _phrase(status: str) -> str:
    try:
        return http.HTTPStatus(int(status)).phrase
    except ValueError:
        return "Error"


_PARAMETER = re.compile(r"^\{(\w+)\}$")


def _created_id_parameter(path: str, paths: dict[str, Any]) -> str | None:
    """The path parameter that takes the id of what ``POST path`` creates: the one right
    under ``path`` (``/v1/cases`` → ``/v1/cases/{case_id}``), or under the same collection
    elsewhere (``/v1/cases/{case_id}/consents`` → ``/v1/consents/{consent_id}``)."""
    segments = path.rstrip("/").split("/")
    collection = segments[-1]
    if _PARAMETER.match(collection):
        return None
    for candidate in sorted(paths):
        parts = candidate.split("/")
        if len(parts) == len(segments) + 1 and parts[: len(segments)] == segments:
            matched = _PARAMETER.match(parts[-1])
            if matched:
                return matched.group(1)
    for candidate in sorted(paths):
        parts = candidate.split("/")
        for i in range(1, len(parts) - 1):
            matched = _PARAMETER.match(parts[i + 1])
            if parts[i] == collection and matched:
                return matched.group(1)
    return None


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return dict(schemas.get(ref.rsplit("/", 1)[-1], {}))
    return schema


def _has_id(response: dict[str, Any], schemas: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return "id" in _resolve(schema, schemas).get("properties", {})


def _link_creations(paths: dict[str, dict[str, Any]], schemas: dict[str, Any]) -> None:
    for path, item in paths.items():
        creating = item.get("post")
        if creating is None or not _has_id(creating.get("responses", {}).get("201", {}), schemas):
            continue
        parameter = _created_id_parameter(path, paths)
        if parameter is None:
            continue
        links: dict[str, Any] = {}
        for target_path, target_item in sorted(paths.items()):
            if "{" + parameter + "}" not in target_path:
                continue
            for method, target in target_item.items():
                if not isinstance(target, dict) or "operationId" not in target:
                    continue
                links[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": {parameter: "$response.body#/id"},
                    "description": f"The `id` created is the `{parameter}` of "
                    f"{method.upper()} {target_path}.",
                }
        if links:
            creating["responses"]["201"]["links"] = links
