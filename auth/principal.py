"""Who is calling: the resolved identity every authorization decision is made about."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Principal:
    """A person or an agency system, always of exactly one agency.

    ``roles`` and ``data_roles`` are those the token carries *and* the account still holds, so
    taking a role away takes effect on the next request, not at token expiry.
    """

    agency: str
    kind: Literal["user", "client"]
    subject: str
    client_id: str
    roles: frozenset[str]
    data_roles: frozenset[str]
    scopes: frozenset[str]
    token_id: str

    @property
    def user_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.subject) if self.kind == "user" else None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def has_any_role(self, roles: frozenset[str]) -> bool:
        return not roles.isdisjoint(self.roles)
