"""API clients: agency systems, registered by their own agency's admins."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import ApiClient
from auth.passwords import hash_secret, new_secret
from auth.principal import Principal
from kit.db.repository import Page, keyset_page
from kit.errors import NotFound, ValidationFailed

from .schemas import ClientCreate, ClientOut, ClientPatch, ClientWithSecret, client_config_faults

SECRET_METHODS = ("client_secret_basic", "client_secret_post")


def describe(client: ApiClient, secret: str | None = None) -> ClientWithSecret:
    method = (
        "private_key_jwt"
        if "private_key_jwt" in client.auth_methods
        else "none"
        if "none" in client.auth_methods
        else "client_secret_basic"
    )
    out = ClientOut(
        id=client.id,
        client_id=client.client_id,
        agency=client.agency,
        name=client.name,
        scopes=client.scopes,
        roles=client.roles,
        data_roles=client.data_roles,
        token_endpoint_auth_method=method,
        grant_types=client.grant_types,
        redirect_uris=client.redirect_uris,
        has_jwks=client.jwks is not None,
        disabled=client.disabled,
        created_at=client.created_at,
        updated_at=client.updated_at,
    )
    return ClientWithSecret(**out.model_dump(), client_secret=secret)


def _auth_methods(method: str) -> list[str]:
    return list(SECRET_METHODS) if method in SECRET_METHODS else [method]


async def create(
    session: AsyncSession, *, agency: str, data: ClientCreate, client_id: str | None = None
) -> tuple[ApiClient, str | None]:
    secret = new_secret() if data.token_endpoint_auth_method in SECRET_METHODS else None
    client = ApiClient(
        client_id=client_id or f"{agency}-{secrets.token_hex(8)}",
        agency=agency,
        name=data.name,
        scopes=[s.value for s in data.scopes],
        roles=[r.value for r in data.roles],
        data_roles=list(data.data_roles),
        auth_methods=_auth_methods(data.token_endpoint_auth_method),
        grant_types=list(data.grant_types),
        redirect_uris=list(data.redirect_uris),
        secret_hash=hash_secret(secret) if secret else None,
        jwks=data.jwks,
        disabled=False,
    )
    session.add(client)
    await session.flush()
    return client, secret


async def get(session: AsyncSession, *, principal: Principal, client_pk: uuid.UUID) -> ApiClient:
    client = await session.get(ApiClient, client_pk)
    if client is None or client.agency != principal.agency:
        raise NotFound("No API client with this id at your agency.")
    return client


async def page(
    session: AsyncSession, *, principal: Principal, cursor: str | None, limit: int
) -> Page[ApiClient]:
    statement = select(ApiClient).where(ApiClient.agency == principal.agency)
    return await keyset_page(session, statement, ApiClient.id, cursor=cursor, limit=limit)


async def update(
    session: AsyncSession, *, principal: Principal, client_pk: uuid.UUID, patch: ClientPatch
) -> tuple[ApiClient, str | None]:
    client = await get(session, principal=principal, client_pk=client_pk)
    method = describe(client).token_endpoint_auth_method
    redirect_uris = patch.redirect_uris if patch.redirect_uris is not None else client.redirect_uris
    jwks = patch.jwks if patch.jwks is not None else client.jwks
    faults = client_config_faults(method, client.grant_types, redirect_uris, jwks)
    if patch.rotate_secret and method not in SECRET_METHODS:
        faults.append(f"a {method} client has no secret to rotate")
    if faults:
        raise ValidationFailed(
            "; ".join(faults),
            extra={
                "errors": [
                    {"location": "body", "message": f, "type": "client_config"} for f in faults
                ]
            },
        )
    for name in ("name", "data_roles", "disabled"):
        value = getattr(patch, name)
        if value is not None:
            setattr(client, name, value)
    if patch.scopes is not None:
        client.scopes = [s.value for s in patch.scopes]
    if patch.roles is not None:
        client.roles = [r.value for r in patch.roles]
    client.redirect_uris = list(redirect_uris)
    client.jwks = jwks
    secret = None
    if patch.rotate_secret:
        secret = new_secret()
        client.secret_hash = hash_secret(secret)
    await session.flush()
    return client, secret


async def names_at(session: AsyncSession, agency: str) -> dict[str, str]:
    """Each API client of ``agency`` by ``client_id``: its name."""
    rows = await session.execute(
        select(ApiClient.client_id, ApiClient.name).where(ApiClient.agency == agency)
    )
    return {str(client_id): str(name) for client_id, name in rows.all()}
