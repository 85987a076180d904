from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts import envelope as env
from contracts.delivery import encode_attempt, make_attempt
from contracts.keys import KeyKind, PrivateKey, generate_key
from services.db.base import utcnow
from services.settings import Settings
from tests.support.app import make_settings
from tests.support.federation import join, new_root_key, root_setting
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


class Outsider:
    """An agency on another node, with keys we hold, to forge and send messages at will."""

    def __init__(self) -> None:
        now = utcnow().replace(microsecond=0)
        self.signing = generate_key(
            KeyKind.ED25519, nbf=now - timedelta(days=10), exp=now + timedelta(days=30)
        )
        self.keys: list[PrivateKey] = [
            self.signing,
            generate_key(
                KeyKind.X25519, nbf=now - timedelta(days=10), exp=now + timedelta(days=30)
            ),
            generate_key(
                KeyKind.MLKEM768_X25519, nbf=now - timedelta(days=10), exp=now + timedelta(days=30)
            ),
        ]

    def member(self) -> dict[str, Any]:
        return {
            "agency": OUTSIDER,
            "name": "NGO X",
            "kind": "ngo",
            "node_url": "http://127.0.0.1:9",
            "jwks": {"keys": [k.public.to_jwk() for k in self.keys]},
        }

    def envelope(
        self,
        app_directory: Any,
        *,
        to: str = "unhcr",
        type: str = "federation.ping",
        body: dict | None = None,
        categories: dict | None = None,
        sent_at=None,
        expires_in=timedelta(days=1),
        signing: PrivateKey | None = None,
        message_id: str | None = None,
    ) -> env.Envelope:
        signing = signing or self.signing
        sent = (sent_at or utcnow()).replace(microsecond=0)
        recipient_keys = (
            app_directory.member(to).keys if to in {m.agency for m in app_directory.members} else []
        )
        cats = categories or {}
        header = env.EnvelopeHeader(
            id=message_id or env.new_message_id(),
            type=type,
            from_=OUTSIDER,
            to=to,
            sent_at=sent,
            expires_at=sent + expires_in,
            kids=env.HeaderKids(
                sig=signing.kid, enc=env.encryption_kids(cats, recipient_keys, at=sent)
            ),
        )
        return env.seal_and_sign(header, body or {"seq": 0}, cats, recipient_keys, signing)

    def attempt(self, envelope: env.Envelope, at=None) -> str:
        return encode_attempt(make_attempt(envelope, self.signing, at=at or utcnow()))


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
