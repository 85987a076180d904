"""Field types shared by the identity API."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints

from auth.scopes import Role, Scope

DataRole = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Roles = Annotated[list[Role], AfterValidator(_unique)]
Scopes = Annotated[list[Scope], AfterValidator(_unique)]
DataRoles = Annotated[list[DataRole], AfterValidator(_unique)]
