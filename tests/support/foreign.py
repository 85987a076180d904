"""An agency on another node whose keys the test holds: a directory member that forges and
sends whatever it likes, signed as itself (a hostile or careless member node)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx

from contracts import envelope as env
from contracts.agreements import AgreementState, Signature
from contracts.delivery import encode_attempt, make_attempt
from contracts.keys import KeyKind, PrivateKey, generate_key
from kit.db.base import utcnow


class ForeignAgency:
    def __init__(self, slug: str, node_url: str = "http://127.0.0.1:9") -> None:
        self.slug = slug
        self.node_url = node_url
        now = utcnow().replace(microsecond=0)
        valid = {"nbf": now - timedelta(days=10), "exp": now + timedelta(days=30)}
        self.signing = generate_key(KeyKind.ED25519, **valid)
        self.keys: list[PrivateKey] = [
            self.signing,
            generate_key(KeyKind.X25519, **valid),
            generate_key(KeyKind.MLKEM768_X25519, **valid),
        ]

    def member(self) -> dict[str, Any]:
        return {
            "agency": self.slug,
            "name": self.slug.upper(),
            "kind": "ngo",
            "node_url": self.node_url,
            "jwks": {"keys": [k.public.to_jwk() for k in self.keys]},
        }

    def envelope(
        self,
        directory: Any,
        *,
        to: str,
        type: str,
        body: dict[str, Any] | None = None,
        categories: dict[str, dict[str, Any]] | None = None,
        encryption: str | None = None,
        sent_at: datetime | None = None,
        expires_in: timedelta = timedelta(days=1),
        signing: PrivateKey | None = None,
        message_id: str | None = None,
        **header: Any,
    ) -> env.Envelope:
        """A message signed by this agency; ``header`` takes ``agreement``, ``purpose``,
        ``consent`` and ``referral``."""
        signing = signing or self.signing
        sent = (sent_at or utcnow()).replace(microsecond=0)
        recipient_keys = (
            directory.member(to).keys if to in {m.agency for m in directory.members} else []
        )
        sealed = categories or {}
        head = env.EnvelopeHeader(
            id=message_id or env.new_message_id(),
            type=type,
            from_=self.slug,
            to=to,
            sent_at=sent,
            expires_at=sent + expires_in,
            kids=env.HeaderKids(
                sig=signing.kid,
                enc=env.encryption_kids(sealed, recipient_keys, at=sent, encryption=encryption),
            ),
            **header,
        )
        return env.seal_and_sign(
            head, body or {"seq": 0}, sealed, recipient_keys, signing, encryption=encryption
        )

    def attempt(self, envelope: env.Envelope, at: datetime | None = None) -> str:
        return encode_attempt(make_attempt(envelope, self.signing, at=at or utcnow()))

    def signature(self, state: AgreementState) -> Signature:
        """This agency's signature over an agreement version's canonical text."""
        block = env.sign_json(state.canonical(), self.signing)
        return Signature(agency=self.slug, kid=block.kid, value=block.value)

    async def post(self, client: httpx.AsyncClient, envelope: env.Envelope) -> httpx.Response:
        return await client.post(
            "/federation/v1/messages",
            content=json.dumps(envelope.model_dump(mode="json")).encode(),
            headers={"Content-Type": "application/json", "Accord-Attempt": self.attempt(envelope)},
        )
