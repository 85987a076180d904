"""The directory this node holds: loaded from ACCORD_DIRECTORY, verified against the pinned
root key, never replaced by an older version, and refreshed without a restart (DESIGN §4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contracts.directory import (
    Directory,
    DirectoryError,
    accept_directory,
    verify_directory,
)
from contracts.keys import PublicKey, parse_public_jwk
from kit.db.session import Database
from kit.observability.logging import get_logger
from kit.settings import Settings

from .errors import DirectoryUnavailable
from .models import DirectoryDocument

log = get_logger("accord.directory")


def load_root_key(setting: str) -> PublicKey:
    """The pinned root: a JWK given inline as JSON, or the path of a file holding one."""
    text = setting.strip()
    if not text.startswith("{"):
        text = Path(text).read_text()
    return parse_public_jwk(json.loads(text))


async def fetch_document(source: str, http: httpx.AsyncClient | None = None) -> dict[str, Any]:
    if source.startswith(("http://", "https://")):
        client = http or httpx.AsyncClient(timeout=10.0)
        try:
            response = await client.get(source)
            response.raise_for_status()
            document = response.json()
        finally:
            if http is None:
                await client.aclose()
    else:
        document = json.loads(await anyio.Path(source).read_text())
    if not isinstance(document, dict):
        raise ValueError("the directory is not a JSON object")
    return document


class DirectoryHolder:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.source = settings.directory
        self.root = (
            load_root_key(settings.directory_root_key) if settings.directory_root_key else None
        )
        self.db = db
        self._held: Directory | None = None
        self._document: dict[str, Any] | None = None
        self.last_error: str | None = None

    @property
    def configured(self) -> bool:
        return self.source is not None and self.root is not None

    def current(self) -> Directory | None:
        return self._held

    def document(self) -> dict[str, Any] | None:
        """The held directory exactly as signed, for ``GET /v1/directory``."""
        return self._document

    def require(self) -> Directory:
        if self._held is None:
            raise DirectoryUnavailable(
                "This node holds no verified federation directory"
                + (f" ({self.last_error})." if self.last_error else ".")
            )
        return self._held

    async def load_held(self) -> None:
        """The newest version accepted before, so a restart cannot roll the directory back."""
        if self.root is None:
            return
        async with self.db.sessions() as session:
            row = (
                await session.scalars(
                    select(DirectoryDocument).order_by(DirectoryDocument.version.desc()).limit(1)
                )
            ).first()
        if row is not None:
            self._held = verify_directory(row.document, self.root)
            self._document = row.document

    async def refresh(self, http: httpx.AsyncClient | None = None) -> bool:
        """Read the source again; returns whether a newer directory was accepted."""
        if not self.configured:
            return False
        assert self.source is not None  # noqa: S101 - configured
        assert self.root is not None  # noqa: S101 - configured
        try:
            document = await fetch_document(self.source, http)
            accepted = accept_directory(document, self.root, self._held)
        except (OSError, ValueError, httpx.HTTPError, DirectoryError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("directory_refused", reason=type(exc).__name__, detail=str(exc)[:300])
            return False
        self.last_error = None
        if accepted is self._held:
            return False
        try:
            async with self.db.sessions.begin() as session:
                if await session.get(DirectoryDocument, accepted.version) is None:
                    session.add(
                        DirectoryDocument(
                            version=accepted.version,
                            federation=accepted.federation,
                            digest=accepted.digest(),
                            document=document,
                        )
                    )
        except IntegrityError:
            pass  # another process of this node stored the same version first
        self._held, self._document = accepted, document
        log.info("directory_accepted", version=accepted.version, federation=accepted.federation)
        return True
