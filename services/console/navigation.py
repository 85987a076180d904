"""The console's menu: each section shown only to the roles that can use it."""

from __future__ import annotations

from dataclasses import dataclass

from .access import Viewer


@dataclass(frozen=True)
class Section:
    label: str
    href: str
    roles: frozenset[str]


SECTIONS: tuple[Section, ...] = (
    Section("Waiting for me", "/console", frozenset({"focal_point", "caseworker"})),
    Section("Referrals", "/console/referrals", frozenset({"focal_point", "caseworker", "auditor"})),
    Section("Agreements", "/console/agreements", frozenset({"admin", "focal_point", "auditor"})),
    Section("Programmes", "/console/programmes", frozenset({"admin", "focal_point", "caseworker"})),
    Section("Users", "/console/users", frozenset({"admin"})),
    Section("API clients", "/console/clients", frozenset({"admin"})),
    Section("Keys and directory", "/console/federation", frozenset({"admin"})),
    Section("Audit", "/console/audit", frozenset({"auditor"})),
    Section("Erasures", "/console/erasures", frozenset({"auditor", "admin"})),
)


def sections_for(viewer: Viewer) -> list[Section]:
    return [s for s in SECTIONS if viewer.has_role(*s.roles)]


def landing(viewer: Viewer) -> str:
    """Where a person lands after sign-in: the first section their roles open."""
    sections = sections_for(viewer)
    return sections[0].href if sections else "/console/agreements"
