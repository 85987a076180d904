"""An erasure receipt is true of every copy on disk: once a referral is erased (withdrawal,
cancellation, expiry, retention), no stored envelope of it opens with any agency's own keys,
and what stays is evidence that still verifies.

UNHCR, IOM and ILO share one node here, the hardest case: every agency's private keys are on
the disk that holds every other agency's messages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from contracts import envelope as env
from contracts.keys import KeyProblem
from kit.db.base import Base, utcnow
from services.federation.models import InboxMessage, OutboxMessage
from services.keys import store
from services.referrals.models import Referral, ReferralData
from services.referrals.sweeper import Sweeper
from tests.support.agreements import READERS
from tests.support.cases import holds_in_clear, raw_rows
from tests.support.referrals import Exchange, exchange

RESULTS_BACK = {
    "identity": {"senders": ["unhcr"], "recipients": ["iom"], "data_roles": READERS},
    "contact": {"senders": ["unhcr"], "recipients": ["iom"], "data_roles": READERS},
    "specific_needs": {"senders": ["unhcr"], "recipients": ["iom"], "data_roles": READERS},
    "protection": {
        "senders": ["unhcr"],
        "recipients": ["iom"],
        "data_roles": ["protection_officer"],
    },
    "reintegration": {
        "senders": ["iom"],
        "recipients": ["unhcr"],
        "data_roles": ["reintegration_officer"],
    },
}
PLAN = {"plan_agreed_on": "2026-11-20"}
REASON = "Counsellor Ljubica is on leave until the hearing in Prizren"


async def opened_copies(ex: Exchange, referral_id: str) -> list[str]:
    """Every sealed part of every stored message about the referral that opens with the
    private keys of any agency hosted on the node."""
    app = ex.app
    async with app.state.db.sessions() as session:
        keys: dict[str, Any] = {}
        for agency in ("unhcr", "iom", "ilo"):
            for key in await store.private_keys(
                session, master_key=app.state.master_key, agency=agency, include_expired=True
            ):
                keys[key.kid] = key
        stored = [
            (f"outbox {m.type}", m.envelope)
            for m in (await session.scalars(select(OutboxMessage))).all()
        ] + [
            (f"inbox {m.type}", m.envelope)
            for m in (await session.scalars(select(InboxMessage))).all()
        ]
    opened = []
    for where, document in stored:
        header = document["header"]
        if header.get("referral") != referral_id and document["body"].get("referral_id") != (
            referral_id
        ):
            continue
        if not document.get("sealed"):
            continue
        envelope = env.Envelope.model_validate(document)
        for part in envelope.sealed:
            try:
                env.open_category(envelope, part, keys)
            except (env.EnvelopeError, KeyProblem):
                continue
            opened.append(f"{where}: {part}")
    return opened


async def held_content(ex: Exchange, referral_id: str) -> list[str]:
    async with ex.app.state.db.sessions() as session:
        rows = (
            await session.scalars(select(Referral).where(Referral.referral_id == referral_id))
        ).all()
        held = []
        for row in rows:
            data = (
                await session.scalars(
                    select(ReferralData.category).where(ReferralData.referral_row == row.id)
                )
            ).all()
            held += [f"{row.agency}: {c}" for c in data]
            if row.data_key_wrapped is not None:
                held.append(f"{row.agency}: data key")
            if row.reason_sealed is not None:
                held.append(f"{row.agency}: decline reason")
    return held


async def _post(ex: Exchange, path: str, who: str, **body: Any) -> dict[str, Any]:
    response = await ex.client.post(path, json=body or None, headers=ex.people[who])
    assert response.status_code == 200, response.text
    return response.json()


async def _completed_with_results(ex: Exchange) -> str:
    referral = await ex.sent()
    await _post(ex, f"/v1/referrals/{referral['id']}/accept", "iom_focal_point")
    await _post(
        ex,
        f"/v1/referrals/{referral['id']}/complete",
        "iom_counsellor",
        outcome="plan_agreed",
        results={"reintegration": PLAN},
    )
    await ex.deliver()
    return str(referral["id"])


async def _withdrawn(ex: Exchange, referral_id: str) -> None:
    await _post(ex, f"/v1/consents/{ex.consent_id}/withdraw", "unhcr_caseworker")
    await ex.deliver()


async def erased_by_withdrawal(ex: Exchange) -> str:
    referral_id = await _completed_with_results(ex)
    await _withdrawn(ex, referral_id)
    return referral_id


async def erased_by_withdrawal_after_a_decline(ex: Exchange) -> str:
    referral = await ex.sent()
    await _post(ex, f"/v1/referrals/{referral['id']}/decline", "iom_focal_point", reason=REASON)
    await ex.deliver()
    await _withdrawn(ex, referral["id"])
    return str(referral["id"])


async def erased_by_cancellation(ex: Exchange) -> str:
    referral = await ex.sent()
    await _post(ex, f"/v1/referrals/{referral['id']}/cancel", "unhcr_caseworker")
    await ex.deliver()
    return str(referral["id"])


async def erased_by_expiry(ex: Exchange) -> str:
    referral = await ex.sent(respond_by=(utcnow() + timedelta(days=2)).isoformat())
    await Sweeper(ex.app.state.federation, 0).step(utcnow() + timedelta(days=3))
    await ex.deliver()
    return str(referral["id"])


async def erased_by_retention(ex: Exchange) -> str:
    referral_id = await _completed_with_results(ex)
    await Sweeper(ex.app.state.federation, 0).step(utcnow() + timedelta(days=400))
    await ex.deliver()
    return referral_id


ROUTES = {
    "withdrawal": erased_by_withdrawal,
    "withdrawal after a decline": erased_by_withdrawal_after_a_decline,
    "cancellation": erased_by_cancellation,
    "expiry": erased_by_expiry,
    "retention": erased_by_retention,
}


@pytest.mark.parametrize("route", list(ROUTES.values()), ids=list(ROUTES))
async def test_no_stored_envelope_of_an_erased_referral_opens_with_any_agencys_keys(
    app, client, tmp_path, route
) -> None:
    ex = await exchange(app, client, tmp_path, categories=RESULTS_BACK)
    # The check can fail: a referral waiting in the outbox opens with IOM's keys, as it must.
    waiting = await ex.draft()
    await _post(ex, f"/v1/referrals/{waiting['id']}/approve", "unhcr_focal_point")
    assert await opened_copies(ex, waiting["id"]) != []
    await _post(ex, f"/v1/referrals/{waiting['id']}/cancel", "unhcr_caseworker")

    referral_id = await route(ex)

    assert await opened_copies(ex, referral_id) == []
    assert await held_content(ex, referral_id) == []
    assert await opened_copies(ex, waiting["id"]) == [], "a cancelled message keeps no content"


async def test_the_decline_reason_travels_sealed_and_is_erased_with_the_referral(
    app, client, tmp_path
) -> None:
    ex = await exchange(app, client, tmp_path)
    referral = await ex.sent()
    await _post(ex, f"/v1/referrals/{referral['id']}/decline", "iom_focal_point", reason=REASON)
    await ex.deliver()
    for table in [t.name for t in Base.metadata.sorted_tables]:
        assert not holds_in_clear(await raw_rows(app, table), "Ljubica"), table
    for who in ("unhcr_focal_point", "iom_focal_point"):
        read = await ex.client.get(f"/v1/referrals/{referral['id']}", headers=ex.people[who])
        assert read.json()["decline_reason"] == REASON, who

    await _withdrawn(ex, referral["id"])

    outgoing = await ex.client.get(
        f"/v1/referrals/{referral['id']}", headers=ex.people["unhcr_focal_point"]
    )
    assert outgoing.json()["status"] == "revoked"
    assert outgoing.json()["decline_reason"] is None
    assert await held_content(ex, referral["id"]) == []


@pytest.mark.parametrize("route", [erased_by_withdrawal, erased_by_cancellation])
async def test_evidence_still_verifies_after_erasure(app, client, tmp_path, route) -> None:
    ex = await exchange(app, client, tmp_path, categories=RESULTS_BACK)
    referral_id = await route(ex)
    directory = app.state.federation.directory.require()
    for who, kinds in (
        ("unhcr_focal_point", {"delivery", "erasure"}),
        ("iom_focal_point", {"delivery"}),
    ):
        response = await ex.client.get(
            f"/v1/referrals/{referral_id}/evidence", headers=ex.people[who]
        )
        assert response.status_code == 200, response.text
        evidence = response.json()
        assert "sealed" not in evidence["envelope"]
        envelope = env.EnvelopeEvidence.model_validate(evidence["envelope"])
        sender = directory.member_key(
            "unhcr", envelope.signature.kid, at=envelope.header.sent_at, use="sig"
        )
        env.verify(envelope, sender)
        seen = set()
        for document in evidence["receipts"]:
            signed = env.SignedReceipt.model_validate(document)
            key = directory.member_key("iom", signed.signature.kid, at=signed.receipt.at, use="sig")
            receipt = env.verify_receipt(signed, key)
            seen.add(receipt.type)
            if isinstance(receipt, env.DeliveryReceipt):
                assert receipt.accepted
                assert receipt.digest == env.envelope_digest(envelope)
        assert kinds <= seen, who
