"""``accord init``: bring a node's database to the newest schema, register its agencies, and
give each a first admin and an admin API client, whose secrets are printed once, here only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.clients import service as clients
from auth.clients.schemas import ClientCreate
from auth.keys import ensure_token_key
from auth.models import ApiClient, User
from auth.passwords import Passwords
from auth.scopes import ALL_ROLES, ALL_SCOPES, Role, Scope
from auth.users import service as users
from auth.users.schemas import UserCreate
from kit.db.migrate import upgrade_to_head
from kit.db.session import Database
from kit.master_key import load_master_key
from kit.settings import Settings
from services.agencies import service as agencies
from services.keys import store as agency_keys

ADMIN_CLIENT_NAME = "Admin API client (created by accord init)"


def admin_email(agency: str) -> str:
    return f"admin@{agency}.accord.invalid"


async def _first_admin(session: AsyncSession, agency: str, passwords: Passwords) -> dict[str, Any]:
    email = admin_email(agency)
    existing = (await session.scalars(select(User).where(User.email == email))).first()
    if existing is not None:
        return {"email": email, "password": None}
    _, password = await users.create(
        session,
        agency=agency,
        data=UserCreate(email=email, display_name=f"{agency} administrator", roles=[Role.ADMIN]),
        passwords=passwords,
    )
    return {"email": email, "password": password}


async def _admin_client(session: AsyncSession, agency: str) -> dict[str, Any]:
    existing = (
        await session.scalars(
            select(ApiClient).where(ApiClient.agency == agency, ApiClient.name == ADMIN_CLIENT_NAME)
        )
    ).first()
    if existing is not None:
        return {"client_id": existing.client_id, "client_secret": None, "scopes": existing.scopes}
    client, secret = await clients.create(
        session,
        agency=agency,
        data=ClientCreate(
            name=ADMIN_CLIENT_NAME,
            scopes=sorted(Scope(s) for s in ALL_SCOPES),
            roles=sorted(Role(r) for r in ALL_ROLES),
        ),
        client_id=f"{agency}-admin",
    )
    return {"client_id": client.client_id, "client_secret": secret, "scopes": client.scopes}


async def initialise_node(
    settings: Settings,
    hosted: list[tuple[str, str]],
    *,
    countries: Mapping[str, str] | None = None,
    time_zones: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``countries``: the state each hosted government acts for (slug -> ISO 3166-1 alpha-3);
    a government's directory entry cannot be signed without it (DESIGN §4). ``time_zones``:
    the IANA time zone the console shows each agency's people times in (slug -> zone)."""
    countries = countries or {}
    time_zones = time_zones or {}
    master_key = load_master_key(settings)
    upgrade_to_head(settings.database_url, master_key=master_key)
    db = Database.open(settings)
    passwords = Passwords.from_settings(settings)
    try:
        async with db.sessions.begin() as session:
            await session.run_sync(lambda s: ensure_token_key(s, master_key))
            rows = []
            for slug, name in hosted:
                agency, created = await agencies.ensure_hosted(
                    session,
                    slug=slug,
                    name=name,
                    country=countries.get(slug),
                    time_zone=time_zones.get(slug),
                )
                await agency_keys.ensure_keys(session, master_key=master_key, agency=slug)
                rows.append(
                    {
                        "agency": agency.slug,
                        "name": agency.name,
                        "created": created,
                        "admin": await _first_admin(session, slug, passwords),
                        "client": await _admin_client(session, slug),
                        # The entry the federation operator puts in the directory.
                        "member": agencies.member_entry(
                            agency,
                            kind=agencies.default_member_kind(slug),
                            node_url=settings.issuer,
                            jwks=await agency_keys.public_jwks(session, agency=slug),
                        ),
                    }
                )
    finally:
        await db.close()
    return {"agencies": rows}
