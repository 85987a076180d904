"""The vocabulary of access: OAuth scopes, agency roles, and which scopes each role may hold.

Scopes bound what a token can do; roles bound who may do it (DESIGN §3). A route names both, and
a caller needs both: a focal point's token without ``referrals:approve`` cannot approve, and a
caseworker's token that somehow carried it still cannot, because approving needs the role.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    REFERRALS_READ = "referrals:read"
    REFERRALS_WRITE = "referrals:write"
    REFERRALS_APPROVE = "referrals:approve"
    AGREEMENTS_READ = "agreements:read"
    AGREEMENTS_WRITE = "agreements:write"
    PROGRAMMES_WRITE = "programmes:write"
    AUDIT_READ = "audit:read"
    # Added to the DESIGN §3 list: managing people and API clients is its own power.
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    CLIENTS_READ = "clients:read"
    CLIENTS_WRITE = "clients:write"
    FEDERATION_READ = "federation:read"
    FEDERATION_WRITE = "federation:write"
    # DESIGN §10: agency systems follow the event log, as a feed or as webhooks.
    EVENTS_READ = "events:read"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"


class Role(StrEnum):
    ADMIN = "admin"
    FOCAL_POINT = "focal_point"
    CASEWORKER = "caseworker"
    AUDITOR = "auditor"


ALL_SCOPES: frozenset[str] = frozenset(s.value for s in Scope)

#: What each scope lets a token do, as the OAuth2 security scheme of the OpenAPI document (and
#: so the /docs Authorize dialog) shows it.
SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.CASES_READ: "Read the agency's cases and consents (roles and data roles still apply)",
    Scope.CASES_WRITE: "Record cases, case data and consents; withdraw consent",
    Scope.REFERRALS_READ: "Read referrals, their evidence and erasure receipts",
    Scope.REFERRALS_WRITE: "Draft, accept, decline, complete and cancel referrals",
    Scope.REFERRALS_APPROVE: "Approve an outgoing referral (focal points, four eyes)",
    Scope.AGREEMENTS_READ: "Read data-sharing agreements and dry-run the policy decision",
    Scope.AGREEMENTS_WRITE: "Draft, propose, sign, suspend, resume, terminate and amend agreements",
    Scope.PROGRAMMES_WRITE: "Publish SOP definitions and bind programmes",
    Scope.AUDIT_READ: "Read and verify the audit log; sign checkpoints",
    Scope.USERS_READ: "List the agency's people",
    Scope.USERS_WRITE: "Add people, change their roles, disable them, reset passwords",
    Scope.CLIENTS_READ: "List the agency's API clients",
    Scope.CLIENTS_WRITE: "Register API clients, change their grants, rotate secrets",
    Scope.FEDERATION_READ: "Read the directory status, outbox, inbox and incidents",
    Scope.FEDERATION_WRITE: "Refresh the directory; send test pings",
    Scope.EVENTS_READ: "Read the agency's event feed (ids, statuses and codes only)",
    Scope.WEBHOOKS_READ: "List webhook subscriptions and their deliveries",
    Scope.WEBHOOKS_WRITE: "Subscribe, unsubscribe, rotate signing secrets, redeliver",
}
ALL_ROLES: frozenset[str] = frozenset(r.value for r in Role)

#: What a person holding a role may be granted when they sign in through the console or an
#: authorization-code client. API clients are granted the scopes their admin registered.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            Scope.AGREEMENTS_READ,
            Scope.AGREEMENTS_WRITE,
            Scope.PROGRAMMES_WRITE,
            Scope.CASES_READ,
            Scope.REFERRALS_READ,
            Scope.AUDIT_READ,
            Scope.USERS_READ,
            Scope.USERS_WRITE,
            Scope.CLIENTS_READ,
            Scope.CLIENTS_WRITE,
            Scope.FEDERATION_READ,
            Scope.FEDERATION_WRITE,
            Scope.EVENTS_READ,
            Scope.WEBHOOKS_READ,
            Scope.WEBHOOKS_WRITE,
        }
    ),
    Role.FOCAL_POINT: frozenset(
        {
            Scope.CASES_READ,
            Scope.REFERRALS_READ,
            Scope.REFERRALS_WRITE,
            Scope.REFERRALS_APPROVE,
            Scope.AGREEMENTS_READ,
        }
    ),
    Role.CASEWORKER: frozenset(
        {
            Scope.CASES_READ,
            Scope.CASES_WRITE,
            Scope.REFERRALS_READ,
            Scope.REFERRALS_WRITE,
            Scope.AGREEMENTS_READ,
        }
    ),
    Role.AUDITOR: frozenset(
        {Scope.AUDIT_READ, Scope.AGREEMENTS_READ, Scope.REFERRALS_READ, Scope.EVENTS_READ}
    ),
}


def scopes_for_roles(roles: list[str] | frozenset[str]) -> frozenset[str]:
    """Every scope some role in ``roles`` allows."""
    granted: set[str] = set()
    for role in roles:
        if role in ALL_ROLES:
            granted |= ROLE_SCOPES[Role(role)]
    return frozenset(granted)


def parse_scope(text: str | None) -> list[str]:
    """Split an RFC 6749 §3.3 scope string, keeping order and dropping repeats."""
    seen: dict[str, None] = {}
    for part in (text or "").split():
        seen.setdefault(part, None)
    return list(seen)
