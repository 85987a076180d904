"""UNHCR refers a person to IOM: drafted, approved by a second person, sealed, read by role,
answered, completed, and every step audited."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from contracts import envelope as env
from contracts.canonical import b64url_decode, canonical_bytes
from services.audit.models import AuditEvent
from services.federation.models import OutboxMessage
from tests.support.referrals import CATEGORIES, Exchange


async def _get(ex: Exchange, referral_id: str, who: str):
    return await ex.client.get(f"/v1/referrals/{referral_id}", headers=ex.people[who])


async def test_a_referral_goes_from_draft_to_completion(ex: Exchange) -> None:
    draft = await ex.draft()
    assert draft["status"] == "pending_approval"
    assert draft["direction"] == "outgoing"
    await ex.client.post(
        f"/v1/referrals/{draft['id']}/approve", headers=ex.people["unhcr_focal_point"]
    )
    assert await ex.deliver() == 1
    outgoing = (await _get(ex, draft["id"], "unhcr_focal_point")).json()
    assert outgoing["status"] == "sent"
    assert outgoing["note"] == "Speaks Serbian; prefers a woman counsellor."

    incoming = (await _get(ex, draft["id"], "iom_counsellor")).json()
    assert incoming["direction"] == "incoming"
    assert incoming["status"] == "received"
    assert set(incoming["data"]) == set(CATEGORIES)
    assert incoming["data"]["identity"]["names"]["family_name"] == "Haddad"
    assert incoming["note"] is None, "the drafter's note never leaves the sender"

    accepted = await ex.client.post(
        f"/v1/referrals/{draft['id']}/accept", headers=ex.people["iom_focal_point"]
    )
    assert accepted.json()["status"] == "accepted"
    await ex.deliver()
    assert (await _get(ex, draft["id"], "unhcr_focal_point")).json()["status"] == "accepted"

    completed = await ex.client.post(
        f"/v1/referrals/{draft['id']}/complete",
        json={"outcome": "decided_to_return"},
        headers=ex.people["iom_counsellor"],
    )
    assert completed.json()["status"] == "completed"
    await ex.deliver()
    final = (await _get(ex, draft["id"], "unhcr_focal_point")).json()
    assert final["status"] == "completed"
    assert final["outcome"] == "decided_to_return"
    assert [h["status"] for h in final["history"]] == [
        "pending_approval",
        "approved",
        "sent",
        "accepted",
        "completed",
    ]


async def test_protection_is_withheld_from_a_counsellor_and_opened_for_the_protection_officer(
    ex: Exchange,
) -> None:
    referral = await ex.sent(categories=[*CATEGORIES, "protection"])
    counsellor = (await _get(ex, referral["id"], "iom_counsellor")).json()
    assert "protection" not in counsellor["data"]
    [withheld] = counsellor["withheld"]
    assert withheld["category"] == "protection"
    assert withheld["code"] == "data_role_missing"
    assert "protection_officer" in withheld["reason"]
    officer = (await _get(ex, referral["id"], "iom_protection")).json()
    assert officer["data"]["protection"]["risk_assessments"][0]["risk_level"] == "high"


async def test_every_read_of_personal_data_is_audited_with_its_categories(ex: Exchange) -> None:
    referral = await ex.sent()
    await _get(ex, referral["id"], "iom_counsellor")
    async with ex.app.state.db.sessions() as session:
        reads = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "referral.read", AuditEvent.agency == "iom"
                )
            )
        ).all()
    [read] = reads
    assert read.categories == sorted(CATEGORIES)
    assert read.referral_id == referral["id"]
    assert read.actor.startswith("client:")


async def test_the_drafter_cannot_approve_their_own_referral(ex: Exchange) -> None:
    response = await ex.client.post(
        "/v1/referrals", json=ex.body(), headers=ex.people["unhcr_focal_point"]
    )
    own = response.json()
    refused = await ex.client.post(
        f"/v1/referrals/{own['id']}/approve", headers=ex.people["unhcr_focal_point"]
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/four-eyes"
    assert any("four eyes" in v["message"] for v in refused.json()["violations"])


async def test_approving_twice_answers_409_with_the_current_state(ex: Exchange) -> None:
    draft = await ex.draft()
    first = await ex.client.post(
        f"/v1/referrals/{draft['id']}/approve", headers=ex.people["unhcr_focal_point"]
    )
    again = await ex.client.post(
        f"/v1/referrals/{draft['id']}/approve", headers=ex.people["unhcr_focal_point"]
    )
    assert first.status_code == 200
    assert again.status_code == 409
    assert again.json()["current_status"] == "approved"


async def test_a_referral_for_another_agencys_case_is_not_found(ex: Exchange) -> None:
    from tests.support.referrals import person

    iom = await person(ex.app, ex.client, "iom", ["caseworker"])
    response = await ex.client.post("/v1/referrals", json=ex.body(to_agency="unhcr"), headers=iom)
    assert response.status_code == 404


async def test_a_refused_disclosure_lists_every_reason(ex: Exchange) -> None:
    response = await ex.client.post(
        "/v1/referrals",
        json=ex.body(
            to_agency="ilo", purpose="reintegration-employment", categories=["identity", "health"]
        ),
        headers=ex.people["unhcr_caseworker"],
    )
    assert response.status_code == 403
    body = response.json()
    assert body["type"] == "/problems/policy-refused"
    codes = {v["code"] for v in body["violations"]}
    assert {
        "recipient_not_party",
        "purpose_not_in_agreement",
        "consent_recipient_not_covered",
    } <= codes
    async with ex.app.state.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_categories_beyond_the_consent_are_refused(ex: Exchange) -> None:
    from tests.support.cases import seed_consent

    narrow = await seed_consent(
        ex.app,
        "unhcr",
        ex.case_id,
        recipients=["iom"],
        purposes=["avrr-counselling"],
        categories=["identity"],
    )
    response = await ex.client.post(
        "/v1/referrals", json=ex.body(consent_id=narrow), headers=ex.people["unhcr_caseworker"]
    )
    assert response.status_code == 403
    flagged = {
        v["category"]
        for v in response.json()["violations"]
        if v["code"] == "consent_category_not_covered"
    }
    assert flagged == {"contact", "specific_needs"}


async def test_a_consent_given_in_another_case_is_refused(ex: Exchange) -> None:
    from services.cases import service as cases
    from tests.support.cases import seed_consent, system_principal
    from tests.support.referrals import case_with_everything

    async with ex.app.state.db.sessions.begin() as session:
        other = await cases.create(
            session,
            principal=system_principal("unhcr", data_roles={"protection_officer"}),
            master_key=ex.app.state.master_key,
            body=case_with_everything(),
        )
    theirs = await seed_consent(
        ex.app,
        "unhcr",
        str(other.id),
        recipients=["iom"],
        purposes=["avrr-counselling"],
        categories=[*CATEGORIES],
    )
    response = await ex.client.post(
        "/v1/referrals", json=ex.body(consent_id=theirs), headers=ex.people["unhcr_caseworker"]
    )
    assert response.status_code == 403, response.text
    assert [v["code"] for v in response.json()["violations"]] == ["consent_missing"]


async def test_a_consent_or_agreement_the_node_does_not_hold_is_named_as_such(
    ex: Exchange,
) -> None:
    """Read together on the fast path, each is still refused as it is alone."""
    no_consent = await ex.client.post(
        "/v1/referrals",
        json=ex.body(consent_id="0190f1b4-0000-7000-8000-000000000000"),
        headers=ex.people["unhcr_caseworker"],
    )
    assert no_consent.status_code == 404, no_consent.text
    no_agreement = await ex.client.post(
        "/v1/referrals",
        json=ex.body(agreement_id="not-held-here"),
        headers=ex.people["unhcr_caseworker"],
    )
    assert no_agreement.status_code == 403, no_agreement.text
    assert [v["code"] for v in no_agreement.json()["violations"]] == ["agreement_not_signed"]


async def test_the_wrong_side_cannot_take_the_other_sides_steps(ex: Exchange) -> None:
    referral = await ex.sent()
    accept_own = await ex.client.post(
        f"/v1/referrals/{referral['id']}/accept", headers=ex.people["unhcr_focal_point"]
    )
    assert accept_own.status_code == 409
    complete_early = await ex.client.post(
        f"/v1/referrals/{referral['id']}/complete",
        json={"outcome": "x"},
        headers=ex.people["iom_counsellor"],
    )
    assert complete_early.status_code == 409
    assert complete_early.json()["current_status"] == "received"


async def test_a_decline_carries_its_reason_back(ex: Exchange) -> None:
    referral = await ex.sent()
    no_reason = await ex.client.post(
        f"/v1/referrals/{referral['id']}/decline", json={}, headers=ex.people["iom_focal_point"]
    )
    assert no_reason.status_code == 422
    await ex.client.post(
        f"/v1/referrals/{referral['id']}/decline",
        json={"reason": "No counsellor for Serbian this month"},
        headers=ex.people["iom_focal_point"],
    )
    await ex.deliver()
    outgoing = (await _get(ex, referral["id"], "unhcr_focal_point")).json()
    assert outgoing["status"] == "declined"
    assert outgoing["decline_reason"] == "No counsellor for Serbian this month"
    assert "detail" not in outgoing["history"][-1], "the reason is kept sealed, not in the history"
    incoming = (await _get(ex, referral["id"], "iom_focal_point")).json()
    assert incoming["decline_reason"] == "No counsellor for Serbian this month"


async def test_evidence_verifies_with_the_senders_published_key(ex: Exchange) -> None:
    referral = await ex.sent()
    evidence = (
        await ex.client.get(
            f"/v1/referrals/{referral['id']}/evidence", headers=ex.people["unhcr_focal_point"]
        )
    ).json()
    envelope = evidence["envelope"]
    directory = (await ex.client.get("/v1/directory")).json()
    [member] = [m for m in directory["members"] if m["agency"] == "unhcr"]
    [jwk] = [k for k in member["jwks"]["keys"] if k["kid"] == envelope["signature"]["kid"]]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    key.verify(
        b64url_decode(envelope["signature"]["value"]),
        canonical_bytes({k: envelope[k] for k in ("header", "body", "digests")}),
    )
    assert envelope["header"]["referral"] == referral["id"]
    assert envelope["header"]["consent"] == ex.consent_id
    assert "sealed" not in envelope
    [receipt] = evidence["receipts"]
    assert env.SignedReceipt.model_validate(receipt).receipt.by == "iom"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.fresh_database  # two requests at once, each in a real transaction
async def test_two_concurrent_approvals_exactly_one_wins(ex: Exchange) -> None:
    from tests.support.referrals import person

    second = await person(ex.app, ex.client, "unhcr", ["focal_point"])
    draft = await ex.draft()
    first, other = await asyncio.gather(
        ex.client.post(
            f"/v1/referrals/{draft['id']}/approve", headers=ex.people["unhcr_focal_point"]
        ),
        ex.client.post(f"/v1/referrals/{draft['id']}/approve", headers=second),
    )
    assert sorted([first.status_code, other.status_code]) == [200, 409]
    async with ex.app.state.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_cancelling_before_acceptance_erases_the_recipients_copy(ex: Exchange) -> None:
    referral = await ex.sent()
    cancelled = await ex.client.post(
        f"/v1/referrals/{referral['id']}/cancel", headers=ex.people["unhcr_caseworker"]
    )
    assert cancelled.json()["status"] == "cancelled"
    await ex.deliver()
    gone = await _get(ex, referral["id"], "iom_counsellor")
    assert gone.status_code == 410
    assert gone.json()["reason"] == "cancelled"


async def test_results_sealed_back_on_completion_are_read_by_role_at_the_sender(
    app, client, tmp_path
) -> None:
    from tests.support.agreements import READERS
    from tests.support.referrals import exchange, person

    categories = {
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
    ex = await exchange(app, client, tmp_path, categories=categories)
    referral = await ex.sent()
    await ex.client.post(
        f"/v1/referrals/{referral['id']}/accept", headers=ex.people["iom_focal_point"]
    )
    refused = await ex.client.post(
        f"/v1/referrals/{referral['id']}/complete",
        json={"outcome": "plan_agreed", "results": {"health": {}}},
        headers=ex.people["iom_counsellor"],
    )
    assert refused.status_code == 403, "health does not flow back under this agreement"
    done = await ex.client.post(
        f"/v1/referrals/{referral['id']}/complete",
        json={
            "outcome": "plan_agreed",
            "results": {"reintegration": {"plan_agreed_on": "2026-11-20"}},
        },
        headers=ex.people["iom_counsellor"],
    )
    assert done.status_code == 200, done.text
    await ex.deliver()
    outgoing = (await _get(ex, referral["id"], "unhcr_focal_point")).json()
    assert outgoing["data"] == {}, "reintegration opens only to a reintegration officer"
    ex.people["unhcr_reintegration"] = await person(
        app, client, "unhcr", ["focal_point"], ["reintegration_officer"]
    )
    outgoing = (await _get(ex, referral["id"], "unhcr_reintegration")).json()
    assert outgoing["data"] == {"reintegration": {"plan_agreed_on": "2026-11-20"}}


async def test_listing_filters_and_pages_newest_first(ex: Exchange) -> None:
    first = await ex.draft()
    second = await ex.sent()
    headers = ex.people["unhcr_focal_point"]
    page = (await ex.client.get("/v1/referrals", params={"limit": 1}, headers=headers)).json()
    assert [r["id"] for r in page["items"]] == [second["id"]]
    rest = (
        await ex.client.get(
            "/v1/referrals", params={"limit": 1, "cursor": page["next_cursor"]}, headers=headers
        )
    ).json()
    assert [r["id"] for r in rest["items"]] == [first["id"]]
    pending = (
        await ex.client.get("/v1/referrals", params={"status": "pending_approval"}, headers=headers)
    ).json()
    assert [r["id"] for r in pending["items"]] == [first["id"]]
    incoming = (
        await ex.client.get(
            "/v1/referrals", params={"direction": "incoming"}, headers=ex.people["iom_focal_point"]
        )
    ).json()
    assert [r["id"] for r in incoming["items"]] == [second["id"]]
