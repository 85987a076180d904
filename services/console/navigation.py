"""The console's menu: each section shown only to the roles that can use it."""

from __future__ import annotations

from dataclasses import dataclass

from kit.i18n import N_

from .access import Viewer


@dataclass(frozen=True)
class Section:
    label: str
    href: str
    roles: frozenset[str]


SECTIONS: tuple[Section, ...] = (
    Section(N_("Waiting for me"), "/console", frozenset({"focal_point", "caseworker"})),
    Section(
        N_("Referrals"), "/console/referrals", frozenset({"focal_point", "caseworker", "auditor"})
    ),
    Section(
        N_("Agreements"), "/console/agreements", frozenset({"admin", "focal_point", "auditor"})
    ),
    Section(
        N_("Programmes"), "/console/programmes", frozenset({"admin", "focal_point", "caseworker"})
    ),
    Section(N_("Users"), "/console/users", frozenset({"admin"})),
    Section(N_("API clients"), "/console/clients", frozenset({"admin"})),
    Section(N_("Webhooks"), "/console/webhooks", frozenset({"admin"})),
    Section(N_("Keys and directory"), "/console/federation", frozenset({"admin"})),
    Section(N_("Audit"), "/console/audit", frozenset({"auditor"})),
    Section(N_("Erasures"), "/console/erasures", frozenset({"auditor", "admin"})),
)


def sections_for(viewer: Viewer) -> list[Section]:
    return [s for s in SECTIONS if viewer.has_role(*s.roles)]


def landing(viewer: Viewer) -> str:
    """Where a person lands after sign-in: the first section their roles open."""
    sections = sections_for(viewer)
    return sections[0].href if sections else "/console/agreements"
