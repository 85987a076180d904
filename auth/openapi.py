"""What the OpenAPI document says about access, beyond the OAuth2 scopes FastAPI writes itself.

The scope an operation needs is in its ``security`` (``Requires`` declares it with
``fastapi.Security``); the roles are not an OAuth concept, so they go in its description
(``Roles: admin or focal_point.``) and in ``x-roles`` for tools.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import RouteContext

from .dependencies import Requirement


def requirements_of(dependant: Any) -> list[Requirement]:
    """Every ``Requires(...)`` in a route's dependency tree."""
    found: list[Requirement] = []
    pending = [dependant] if dependant is not None else []
    while pending:
        current = pending.pop()
        if isinstance(current.call, Requirement):
            found.append(current.call)
        pending.extend(current.dependencies)
    return found


def document_roles(context: RouteContext, operation: dict[str, Any]) -> None:
    """``kit.http.openapi`` hook: name the roles an operation needs in its description."""
    requirements = requirements_of(getattr(context, "dependant", None))
    if not requirements:
        return
    roles = sorted(set.intersection(*(set(r.roles) for r in requirements)))
    line = f"Roles: {' or '.join(roles)}." if roles else "Roles: none can call it."
    description = operation.get("description", "").rstrip()
    operation["description"] = f"{description}\n\n{line}" if description else line
    operation["x-roles"] = roles
