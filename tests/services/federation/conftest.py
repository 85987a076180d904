from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts import envelope as env
from kit.settings import Settings
from tests.support.app import make_settings
from tests.support.federation import join, new_root_key, root_setting
from tests.support.foreign import ForeignAgency
from tests.support.identity import BASE_URL

ROOT = new_root_key()
OUTSIDER = "ngo-x"


@pytest.fixture
def directory_path(tmp_path: Path) -> Path:
    return tmp_path / "directory.json"


@pytest.fixture
def settings(database_url: str, directory_path: Path) -> Settings:
    return make_settings(
        database_url,
        directory=str(directory_path),
        directory_root_key=root_setting(ROOT),
        delivery_worker=False,  # tests drive the worker step by step
        delivery_backoff_base_seconds=0.01,
        delivery_backoff_cap_seconds=0.05,
    )


class Outsider(ForeignAgency):
    """An agency on another node, with keys we hold, to forge and send messages at will."""

    def __init__(self) -> None:
        super().__init__(OUTSIDER)

    def envelope(self, app_directory: Any, **kwargs: Any) -> env.Envelope:  # type: ignore[override]
        kwargs.setdefault("to", "unhcr")
        kwargs.setdefault("type", "federation.ping")
        return super().envelope(app_directory, **kwargs)


@pytest.fixture
def outsider() -> Outsider:
    return Outsider()


@pytest.fixture
async def federated(
    app: FastAPI, client: httpx.AsyncClient, directory_path: Path, outsider: Outsider
) -> dict[str, Any]:
    """UNHCR and IOM on this node, the outsider elsewhere, all in directory version 1."""
    return await join(
        app, directory_path, ROOT, BASE_URL, ["unhcr", "iom"], others=[outsider.member()]
    )


def post_envelope(
    client: httpx.AsyncClient, envelope: env.Envelope, attempt: str | None, raw: bytes | None = None
):
    import json

    headers = {"Content-Type": "application/json"}
    if attempt is not None:
        headers["Accord-Attempt"] = attempt
    content = raw if raw is not None else json.dumps(envelope.model_dump(mode="json")).encode()
    return client.post("/federation/v1/messages", content=content, headers=headers)
