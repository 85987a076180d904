"""A node stores a genuine message once and refuses everything else, each refusal with its
own problem type and counted; a refusal of an authenticated sender is recorded for the admins,
one that anyone could provoke writes no row."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contracts import envelope as env
from contracts.agreements import AgreementRef
from contracts.keys import KeyKind, generate_key
from kit.db.base import utcnow
from services.federation import incidents
from services.federation.models import FederationIncident, InboxMessage
from tests.services.federation.conftest import OUTSIDER, ROOT, post_envelope
from tests.support.federation import join
from tests.support.identity import BASE_URL


def _directory(app):
    return app.state.federation.directory.require()


async def _count(app, model) -> int:
    async with app.state.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def _incident_kinds(app) -> list[str]:
    async with app.state.db.sessions() as session:
        return list((await session.scalars(select(FederationIncident.kind))).all())


async def test_a_genuine_message_is_stored_once_with_a_signed_receipt(
    app, client, federated, outsider
) -> None:
    envelope = outsider.envelope(_directory(app))
    first = await post_envelope(client, envelope, outsider.attempt(envelope))
    assert first.status_code == 201, first.text
    receipt = env.SignedReceipt.model_validate(first.json())
    unhcr_key = _directory(app).member_key("unhcr", receipt.signature.kid, at=receipt.receipt.at)
    verified = env.verify_receipt(receipt, unhcr_key)
    assert verified.message_id == envelope.header.id
    assert verified.digest == env.envelope_digest(envelope)

    again = await post_envelope(client, envelope, outsider.attempt(envelope))
    assert again.status_code == 200
    assert again.json() == first.json(), "a repeat gets the same receipt"
    assert await _count(app, InboxMessage) == 1


def _refused_count(app, kind: str, authenticated: bool) -> float:
    value = app.state.metrics.registry.get_sample_value(
        "accord_federation_refused_total",
        {"kind": kind, "authenticated": str(authenticated).lower()},
    )
    return value or 0.0


async def _expect_refusal(
    app, response, status: int, kind: str, *, authenticated: bool = False, retried: bool = False
) -> None:
    """``authenticated``: refused after the signature and delivery attempt verified, which an
    incident records unless the refusal may pass when ``retried`` (a clock ahead)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"/problems/{kind}"
    assert _refused_count(app, kind, authenticated) == 1, "every refusal is counted"
    if authenticated and not retried:
        assert kind in await _incident_kinds(app), "refusals are recorded for the admins"
    else:
        assert await _count(app, FederationIncident) == 0, "it writes no row"
    assert await _count(app, InboxMessage) == 0


async def test_unknown_sender_is_refused(app, client, federated) -> None:
    from tests.services.federation.conftest import Outsider

    stranger = Outsider()  # not in the directory, but claims to be the outsider's agency
    envelope = stranger.envelope(_directory(app))
    response = await post_envelope(client, envelope, stranger.attempt(envelope))
    await _expect_refusal(app, response, 403, "unknown-signing-key")


async def test_sender_missing_from_the_directory_is_refused(app, client, federated, outsider):
    envelope = outsider.envelope(_directory(app))
    data = envelope.model_dump(mode="json")
    data["header"]["from"] = "ngo-unknown"
    response = await post_envelope(
        client, envelope, outsider.attempt(envelope), raw=json.dumps(data).encode()
    )
    await _expect_refusal(app, response, 403, "unknown-sender")


async def test_signing_key_expired_since_sending_is_refused(app, client, federated, outsider):
    now = utcnow().replace(microsecond=0)
    old = generate_key(KeyKind.ED25519, nbf=now - timedelta(days=5), exp=now - timedelta(hours=1))
    member = outsider.member()
    member["jwks"]["keys"].append(old.public.to_jwk())
    await join(
        app,
        Path(app.state.settings.directory),
        ROOT,
        BASE_URL,
        ["unhcr", "iom"],
        version=2,
        others=[member],
    )
    envelope = outsider.envelope(_directory(app), signing=old, sent_at=now - timedelta(hours=2))
    response = await post_envelope(client, envelope, outsider.attempt(envelope))
    await _expect_refusal(app, response, 403, "signing-key-not-valid")


async def test_a_queued_message_signed_before_a_rotation_is_accepted(
    app, client, federated, outsider
) -> None:
    """Old key still valid, new key signs the attempt: rotation does not strand the outbox."""
    now = utcnow().replace(microsecond=0)
    old = generate_key(KeyKind.ED25519, nbf=now - timedelta(days=5), exp=now + timedelta(days=1))
    member = outsider.member()
    member["jwks"]["keys"].append(old.public.to_jwk())
    await join(
        app,
        Path(app.state.settings.directory),
        ROOT,
        BASE_URL,
        ["unhcr", "iom"],
        version=2,
        others=[member],
    )
    envelope = outsider.envelope(_directory(app), signing=old, sent_at=now - timedelta(hours=2))
    response = await post_envelope(client, envelope, outsider.attempt(envelope))
    assert response.status_code == 201, response.text


async def test_tampered_body_fails_the_signature(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(_directory(app), body={"seq": 1})
    data = envelope.model_dump(mode="json")
    data["body"]["seq"] = 2
    response = await post_envelope(
        client, envelope, outsider.attempt(envelope), raw=json.dumps(data).encode()
    )
    await _expect_refusal(app, response, 403, "bad-signature")


async def test_tampered_sealed_category_fails(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(_directory(app), categories={"identity": {"given_name": "A"}})
    data = envelope.model_dump(mode="json")
    sealed = data["sealed"]["identity"]
    data["sealed"]["identity"] = ("B" if sealed[0] != "B" else "C") + sealed[1:]
    response = await post_envelope(
        client, envelope, outsider.attempt(envelope), raw=json.dumps(data).encode()
    )
    await _expect_refusal(app, response, 403, "bad-signature")


async def test_replayed_delivery_attempt_is_refused(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(_directory(app))
    stale = outsider.attempt(envelope, at=utcnow() - timedelta(minutes=30))
    await _expect_refusal(
        app, await post_envelope(client, envelope, stale), 400, "stale-delivery-attempt"
    )


async def test_missing_delivery_attempt_is_refused(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(_directory(app))
    await _expect_refusal(
        app, await post_envelope(client, envelope, None), 400, "stale-delivery-attempt"
    )


async def test_message_from_the_future_is_refused(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(_directory(app), sent_at=utcnow() + timedelta(hours=1))
    response = await post_envelope(client, envelope, outsider.attempt(envelope))
    await _expect_refusal(
        app, response, 400, "message-from-the-future", authenticated=True, retried=True
    )


async def test_expired_message_is_refused(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(
        _directory(app), sent_at=utcnow() - timedelta(days=2), expires_in=timedelta(days=1)
    )
    response = await post_envelope(client, envelope, outsider.attempt(envelope))
    await _expect_refusal(app, response, 400, "message-expired", authenticated=True)


async def test_old_id_replayed_with_other_content_is_refused(app, client, federated, outsider):
    first = outsider.envelope(_directory(app), body={"seq": 1})
    assert (await post_envelope(client, first, outsider.attempt(first))).status_code == 201
    forged = outsider.envelope(_directory(app), body={"seq": 666}, message_id=first.header.id)
    response = await post_envelope(client, forged, outsider.attempt(forged))
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/message-id-reused"
    assert "message-id-reused" in await _incident_kinds(app)
    assert await _count(app, InboxMessage) == 1


async def test_recipient_not_hosted_here_is_refused(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(_directory(app), to="ilo")
    await _expect_refusal(
        app,
        await post_envelope(client, envelope, outsider.attempt(envelope)),
        421,
        "recipient-not-hosted",
    )


async def test_oversized_message_is_refused(app, client, federated, outsider) -> None:
    envelope = outsider.envelope(_directory(app))
    limit = app.state.settings.federation_max_message_bytes
    response = await post_envelope(
        client, envelope, outsider.attempt(envelope), raw=b"{" + b" " * limit + b"}"
    )
    await _expect_refusal(app, response, 413, "message-too-large")


async def test_malformed_envelope_is_refused_with_located_errors(app, client, federated):
    response = await client.post(
        "/federation/v1/messages", json={"header": {"v": 2}}, headers={"Accord-Attempt": "x"}
    )
    await _expect_refusal(app, response, 400, "malformed-envelope")
    assert any(e["location"].startswith("header") for e in response.json()["errors"])


async def test_unknown_message_type_gets_a_signed_refusal_receipt(
    app, client, federated, outsider
) -> None:
    envelope = outsider.envelope(_directory(app), type="referral.teleported")
    response = await post_envelope(client, envelope, outsider.attempt(envelope))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/message-refused"
    assert [v["code"] for v in problem["violations"]] == ["unknown_message_type"]
    signed = env.SignedReceipt.model_validate(problem["receipt"])
    key = _directory(app).member_key("unhcr", signed.signature.kid, at=signed.receipt.at)
    refusal = env.verify_receipt(signed, key)
    assert isinstance(refusal, env.DeliveryReceipt)
    assert (refusal.accepted, refusal.message_id) == (False, envelope.header.id)
    assert refusal.digest == env.envelope_digest(envelope)
    assert "message-refused" in await _incident_kinds(app)

    again = await post_envelope(client, envelope, outsider.attempt(envelope))
    assert again.status_code == 422
    assert again.json()["receipt"] == problem["receipt"], "a repeat gets the same refusal"
    assert await _count(app, InboxMessage) == 1, "kept once, as evidence only"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_incidents_are_listed_for_admins_without_content(
    app, client, federated, outsider
) -> None:
    from tests.support.identity import bearer, client_token, seed_client

    envelope = outsider.envelope(
        _directory(app), sent_at=utcnow() - timedelta(days=2), expires_in=timedelta(days=1)
    )
    await post_envelope(client, envelope, outsider.attempt(envelope))
    await incidents.record(
        app.state.db,
        agency=None,
        direction="in",
        kind="node-wide",
        peer=None,
        message_id=None,
        detail="an incident of the node, of no agency",
    )
    admin = await seed_client(app, "unhcr")
    listed = await client.get(
        "/v1/federation/incidents", headers=bearer(await client_token(client, admin))
    )
    [incident] = listed.json()["items"]
    assert incident["kind"] == "message-expired"
    assert incident["peer"] == OUTSIDER
    assert incident["message_id"] == envelope.header.id


async def test_a_flood_of_forged_messages_writes_no_rows_and_logs_a_few_lines(
    app, client, federated, capsys
) -> None:
    from tests.services.federation.conftest import Outsider

    stranger = Outsider()  # not the outsider's published keys
    capsys.readouterr()
    for _ in range(50):
        envelope = stranger.envelope(_directory(app))
        response = await post_envelope(client, envelope, stranger.attempt(envelope))
        assert response.status_code == 403
    assert await _count(app, FederationIncident) == 0
    assert await _count(app, InboxMessage) == 0
    assert _refused_count(app, "unknown-signing-key", False) == 50
    logged = [line for line in capsys.readouterr().out.splitlines() if "federation_refused" in line]
    assert len(logged) == 1, logged


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.fresh_database  # the command reads the database on a connection of its own
async def test_operators_see_every_incident_from_the_command_line(
    app, client, federated, outsider, database_url
) -> None:
    await incidents.record(
        app.state.db,
        agency=None,
        direction="in",
        kind="node-wide",
        peer=None,
        message_id=None,
        detail="an incident of the node, of no agency",
    )
    from services.cli_federation import _incidents

    listed = await _incidents(app.state.settings, None, 10)
    assert [(i["agency"], i["kind"]) for i in listed] == [(None, "node-wide")]


async def test_a_signed_message_with_a_malformed_field_gets_a_refusal_receipt(
    app, client, federated, outsider
) -> None:
    agreement = AgreementRef(id="01a2d000-0000-7000-8000-0000000000ab", version=1)
    envelope = outsider.envelope(
        _directory(app),
        type="referral.sent",
        body={
            "referral": {
                "id": "01a2d000-0000-7000-8000-0000000000ac",
                "purpose": "avrr-counselling",
                "respond_by": "not-a-date",
            }
        },
        agreement=agreement,
        purpose="avrr-counselling",
        referral="01a2d000-0000-7000-8000-0000000000ac",
    )
    response = await post_envelope(client, envelope, outsider.attempt(envelope))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert any(
        v["code"] == "malformed_field" and "respond_by" in v["message"]
        for v in problem["violations"]
    ), problem
    env.SignedReceipt.model_validate(problem["receipt"])
