"""Agencies, people and API clients by name in the console, with the id on hover (issue 17).

A page builds one :class:`Names` per request (:func:`names_for`) and renders ids through the
``who`` filter (:mod:`services.console.render`). Agencies are named by the signed directory,
then by the node's hosted agencies; users and API clients only where they belong to the
viewer's own agency, so that no page tells one agency who works at another: those stay ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from auth.clients import service as client_rows
from auth.users import repository as user_rows
from contracts.directory import Directory
from services.agencies import repository as agency_rows
from services.federation.runtime import federation_of

from .access import Viewer

#: How the referral history names a peer node acting for an agency (``node:<slug>``).
NODE_PREFIX = "node:"


@dataclass(frozen=True)
class Names:
    """Ids to names for one viewer: ``agencies`` by slug, ``principals`` by audit actor
    (``user:<id>``, ``client:<client_id>``) of the viewer's agency only."""

    agencies: dict[str, str] = field(default_factory=dict)
    principals: dict[str, str] = field(default_factory=dict)

    def name_of(self, ref: str | None) -> str:
        """The name for ``ref`` as a person reads it; the id itself where no name is known.

        Understands the actor forms the event logs write: an agency slug, ``user:<id>``,
        ``client:<client_id>``, ``node:<agency>`` (a peer node) and ``<agency>/<actor>`` (a
        journey decision)."""
        if not ref:
            return ""
        if ref in self.principals:
            return self.principals[ref]
        if ref in self.agencies:
            return self.agencies[ref]
        if ref.startswith(NODE_PREFIX):
            agency = ref.removeprefix(NODE_PREFIX)
            return f"node of {self.agencies.get(agency, agency)}"
        agency, slash, actor = ref.partition("/")
        if slash and actor:
            return f"{self.agencies.get(agency, agency)} / {self.principals.get(actor, actor)}"
        return ref


async def names_for(session: AsyncSession, *, directory: Directory | None, agency: str) -> Names:
    """The names a viewer at ``agency`` may see: every agency of the federation, and the users
    and API clients of their own agency (display name, or e-mail where none is set)."""
    agencies = {a.slug: a.name for a in await agency_rows.list_all(session)}
    if directory is not None:
        # The signed directory is the federation's word on a member's name.
        agencies.update({m.agency: m.name for m in directory.members})
    principals = {f"user:{i}": n for i, n in (await user_rows.names_at(session, agency)).items()}
    principals |= {
        f"client:{i}": n for i, n in (await client_rows.names_at(session, agency)).items()
    }
    return Names(agencies=agencies, principals=principals)


async def for_viewer(request: Request, session: AsyncSession, viewer: Viewer) -> Names:
    """The names for the signed-in viewer of this request, from the directory the node holds."""
    return await names_for(
        session, directory=federation_of(request).directory.current(), agency=viewer.agency
    )
