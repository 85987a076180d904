"""A federation for tests: a root key, member entries from agencies' real keys, a signed
directory file that nodes load through ACCORD_DIRECTORY."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from contracts.directory import sign_directory
from contracts.envelope import format_timestamp
from contracts.keys import KeyKind, PrivateKey, generate_key
from kit.db.base import utcnow
from kit.settings import Settings
from services.agencies import service as agencies
from services.demo.scenarios import COUNTRIES
from services.keys import store as key_store
from tests.support.app import make_settings

FEDERATION = "accord-test"


def new_root_key() -> PrivateKey:
    now = utcnow().replace(microsecond=0)
    return generate_key(KeyKind.ED25519, nbf=now - timedelta(days=1), exp=now + timedelta(days=30))


def root_setting(root: PrivateKey) -> str:
    """ACCORD_DIRECTORY_ROOT_KEY given inline, as the public JWK."""
    return json.dumps(root.public.to_jwk())


def member_settings(
    database_url: str, tmp_path: Path, root: PrivateKey, **overrides: Any
) -> Settings:
    """A node whose directory (signed by ``root``) the test writes, and whose deliveries and
    sweeps the test drives itself, so every step happens when the test says."""
    values: dict[str, Any] = {
        "directory": str(tmp_path / "directory.json"),
        "directory_root_key": root_setting(root),
        "delivery_worker": False,
        "referral_sweep_seconds": 0,
    }
    return make_settings(database_url, **(values | overrides))


def write_directory(
    path: Path, root: PrivateKey, members: list[dict[str, Any]], version: int
) -> dict[str, Any]:
    document = sign_directory(
        {
            "federation": FEDERATION,
            "version": version,
            "issued_at": format_timestamp(utcnow()),
            "members": sorted(members, key=lambda m: m["agency"]),
        },
        root,
    )
    path.write_text(json.dumps(document))
    return document


async def member_entries(app: FastAPI, node_url: str, slugs: list[str]) -> list[dict[str, Any]]:
    """Host ``slugs`` on ``app``'s node (agencies and keys) and describe them for the directory."""
    entries = []
    async with app.state.db.sessions.begin() as session:
        for slug in slugs:
            agency, _ = await agencies.ensure_hosted(
                session, slug=slug, name=slug.upper(), country=COUNTRIES.get(slug)
            )
            await key_store.ensure_keys(session, master_key=app.state.master_key, agency=slug)
            entries.append(
                agencies.member_entry(
                    agency,
                    kind=agencies.default_member_kind(slug),
                    node_url=node_url,
                    jwks=await key_store.public_jwks(session, agency=slug),
                )
            )
    return entries


async def join(
    app: FastAPI,
    path: Path,
    root: PrivateKey,
    node_url: str,
    slugs: list[str],
    version: int = 1,
    others: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Make ``app`` the node of ``slugs`` in a freshly signed directory, and load it."""
    members = await member_entries(app, node_url, slugs) + list(others or [])
    document = write_directory(path, root, members, version)
    await app.state.federation.directory.refresh()
    return document
