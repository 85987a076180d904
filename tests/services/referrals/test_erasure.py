"""A withdrawn consent erases the data at every agency that holds it, and each proves it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from contracts import envelope as env
from kit.db.base import utcnow
from services.audit.models import AuditEvent
from services.federation.models import FederationIncident
from services.referrals.models import Referral, ReferralData
from services.referrals.sweeper import Sweeper
from tests.support.referrals import Exchange, exchange


async def _get(ex: Exchange, referral_id: str, who: str):
    return await ex.client.get(f"/v1/referrals/{referral_id}", headers=ex.people[who])


async def _withdraw(ex: Exchange) -> None:
    response = await ex.client.post(
        f"/v1/consents/{ex.consent_id}/withdraw", json={}, headers=ex.people["unhcr_caseworker"]
    )
    assert response.status_code == 200, response.text


async def test_a_withdrawn_consent_erases_the_recipients_copy_with_a_signed_receipt(
    ex: Exchange,
) -> None:
    referral = await ex.sent()
    await _withdraw(ex)
    await ex.deliver()

    erased = await _get(ex, referral["id"], "iom_counsellor")
    assert erased.status_code == 410
    assert erased.json()["type"] == "/problems/erased"
    assert erased.json()["reason"] == "consent_withdrawn"
    async with ex.app.state.db.sessions() as session:
        row = (
            await session.scalars(
                select(Referral).where(
                    Referral.referral_id == referral["id"], Referral.agency == "iom"
                )
            )
        ).one()
        held = (
            await session.scalars(select(ReferralData).where(ReferralData.referral_row == row.id))
        ).all()
    assert row.data_key_wrapped is None, "the data key is destroyed: crypto-shredded"
    assert held == []

    outgoing = (await _get(ex, referral["id"], "unhcr_focal_point")).json()
    assert outgoing["status"] == "revoked"
    receipt = env.SignedReceipt.model_validate(outgoing["erasure"]["receipt"])
    directory = ex.app.state.federation.directory.require()
    key = directory.member_key("iom", receipt.signature.kid, at=receipt.receipt.at)
    verified = env.verify_receipt(receipt, key)
    assert isinstance(verified, env.ErasureReceipt)
    assert verified.referral == referral["id"]
    assert sorted(verified.categories) == sorted(referral["categories"])
    listing = (await ex.client.get("/v1/erasures", headers=ex.people["unhcr_admin"])).json()
    assert [(e["referral_id"], e["state"]) for e in listing["items"]] == [
        (referral["id"], "confirmed")
    ]


async def test_a_pending_draft_is_revoked_and_nothing_is_sent(ex: Exchange) -> None:
    draft = await ex.draft()
    await _withdraw(ex)
    assert await ex.deliver() == 0
    assert (await _get(ex, draft["id"], "unhcr_focal_point")).json()["status"] == "revoked"


async def test_an_approved_but_undelivered_referral_never_reaches_the_recipient(
    ex: Exchange,
) -> None:
    draft = await ex.draft()
    await ex.client.post(
        f"/v1/referrals/{draft['id']}/approve", headers=ex.people["unhcr_focal_point"]
    )
    await _withdraw(ex)
    await ex.deliver()
    assert (await _get(ex, draft["id"], "iom_counsellor")).status_code == 404
    outgoing = (await _get(ex, draft["id"], "unhcr_focal_point")).json()
    assert outgoing["status"] == "revoked"
    # IOM confirms it holds nothing, so the sender is not left waiting for a receipt.
    assert env.SignedReceipt.model_validate(outgoing["erasure"]["receipt"]).receipt.categories == []


async def test_an_overdue_erasure_receipt_stops_further_referrals_to_that_recipient(
    ex: Exchange,
) -> None:
    referral = await ex.sent()
    await _withdraw(ex)
    # IOM's node is silent: the withdrawal waits in the outbox, the deadline passes.
    async with ex.app.state.db.sessions.begin() as session:
        await session.execute(
            update(Referral)
            .where(
                Referral.referral_id == referral["id"],
                Referral.agency == "unhcr",
            )
            .values(erasure_due_at=utcnow() - timedelta(hours=1))
        )
    from tests.support.cases import seed_consent

    fresh = await seed_consent(
        ex.app,
        "unhcr",
        ex.case_id,
        recipients=["iom"],
        purposes=["avrr-counselling"],
        categories=["identity", "contact", "specific_needs"],
    )
    refused = await ex.client.post(
        "/v1/referrals", json=ex.body(consent_id=fresh), headers=ex.people["unhcr_caseworker"]
    )
    assert refused.status_code == 403
    assert [v["code"] for v in refused.json()["violations"]] == ["erasure_overdue"]
    assert await Sweeper(ex.app.state.federation, 0).step() == 1
    async with ex.app.state.db.sessions() as session:
        kinds = (await session.scalars(select(FederationIncident.kind))).all()
        flagged = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action == "referral.erasure_overdue")
            )
        ).all()
    assert "erasure-overdue" in kinds
    assert flagged == ["referral.erasure_overdue"]
    listing = (
        await ex.client.get(
            "/v1/erasures", params={"state": "overdue"}, headers=ex.people["unhcr_admin"]
        )
    ).json()
    assert [e["referral_id"] for e in listing["items"]] == [referral["id"]]


async def test_content_past_retention_after_completion_is_erased(ex: Exchange) -> None:
    referral = await ex.sent()
    await ex.client.post(
        f"/v1/referrals/{referral['id']}/accept", headers=ex.people["iom_focal_point"]
    )
    await ex.client.post(
        f"/v1/referrals/{referral['id']}/complete",
        json={"outcome": "done"},
        headers=ex.people["iom_counsellor"],
    )
    sweeper = Sweeper(ex.app.state.federation, 0)
    assert await sweeper.step() == 0, "within retention nothing is erased"
    assert await sweeper.step(now=utcnow() + timedelta(days=366)) == 1
    gone = await _get(ex, referral["id"], "iom_counsellor")
    assert gone.status_code == 410
    assert gone.json()["reason"] == "retention"


async def test_an_unanswered_referral_expires_at_respond_by(ex: Exchange) -> None:
    referral = await ex.sent(respond_by=(utcnow() + timedelta(days=2)).isoformat())
    sweeper = Sweeper(ex.app.state.federation, 0)
    assert await sweeper.step(now=utcnow() + timedelta(days=3)) == 2
    assert (await _get(ex, referral["id"], "unhcr_focal_point")).json()["status"] == "expired"
    assert (await _get(ex, referral["id"], "iom_counsellor")).status_code == 410


async def test_break_glass_opens_a_withheld_category_once_and_stands_out(
    app, client, tmp_path
) -> None:
    ex = await exchange(app, client, tmp_path, legal_basis="vital_interest", break_glass=True)
    referral = await ex.sent(categories=["identity", "protection"], consent_id=None)
    before = (await _get(ex, referral["id"], "iom_focal_point")).json()
    assert "protection" not in before["data"]
    short = await ex.client.post(
        f"/v1/referrals/{referral['id']}/break-glass",
        json={"category": "protection", "reason": "x"},
        headers=ex.people["iom_focal_point"],
    )
    assert short.status_code == 422, "a written reason is required"
    grant = await ex.client.post(
        f"/v1/referrals/{referral['id']}/break-glass",
        json={
            "category": "protection",
            "reason": "Credible threat reported tonight; need the risk assessment to place her.",
        },
        headers=ex.people["iom_focal_point"],
    )
    assert grant.status_code == 201, grant.text
    after = (await _get(ex, referral["id"], "iom_focal_point")).json()
    assert after["data"]["protection"]["risk_assessments"][0]["risk_level"] == "high"
    await ex.deliver()
    async with ex.app.state.db.sessions() as session:
        marked = (
            await session.scalars(select(AuditEvent).where(AuditEvent.break_glass.is_(True)))
        ).all()
    actions = {(e.agency, e.action) for e in marked}
    assert ("iom", "referral.break_glass") in actions
    assert ("iom", "referral.read") in actions
    assert ("unhcr", "referral.break_glass_notified") in actions, "the owner is told at once"


async def test_break_glass_is_refused_where_the_agreement_does_not_allow_it(ex: Exchange) -> None:
    referral = await ex.sent(categories=["identity", "protection"])
    refused = await ex.client.post(
        f"/v1/referrals/{referral['id']}/break-glass",
        json={"category": "protection", "reason": "I would like to see it please."},
        headers=ex.people["iom_focal_point"],
    )
    assert refused.status_code == 403
