"""A member node that is not a referral's counterpart cannot act on it, and a recipient stores
nothing the agreement does not allow: every inbound referral and every result sealed back is
re-checked with the sender's own policy decision, and refused with a signed refusal receipt
that lists every reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from contracts import envelope as env
from contracts.agreements import AgreementRef
from kit.db.base import utcnow
from services.federation.models import InboxMessage
from services.referrals.models import Referral, ReferralData
from tests.support.agreements import terms
from tests.support.cases import seed_consent
from tests.support.foreign import ForeignAgency
from tests.support.referrals import Exchange, exchange

IDENTITY = {"names": {"given_names": "Arta", "family_name": "Berisha"}, "sex": "female"}


async def _with_outsider(app, client, tmp_path) -> tuple[Exchange, ForeignAgency]:
    x = ForeignAgency("ngo-x")
    return await exchange(app, client, tmp_path, others=[x.member()]), x


def _refusal(response) -> list[str]:
    assert response.status_code == 422, response.text
    problem = response.json()
    receipt = env.SignedReceipt.model_validate(problem["receipt"]).receipt
    assert isinstance(receipt, env.DeliveryReceipt)
    assert receipt.accepted is False
    assert [r.code for r in receipt.reasons] == [v["code"] for v in problem["violations"]]
    return [v["code"] for v in problem["violations"]]


async def _agreement_with(ex: Exchange, x: ForeignAgency, admin: str, body: dict[str, Any]) -> str:
    """An agreement between a hosted agency and NGO X, active once X's signature arrives."""
    headers = ex.people[admin]
    drafted = await ex.client.post("/v1/agreements", json=body, headers=headers)
    assert drafted.status_code == 201, drafted.text
    agreement_id = drafted.json()["id"]
    digest = (
        await ex.client.post(f"/v1/agreements/{agreement_id}/propose", headers=headers)
    ).json()["digest"]
    signed = await ex.client.post(
        f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}, headers=headers
    )
    assert signed.status_code == 200, signed.text
    from services.agreements import repository

    async with ex.app.state.db.sessions() as session:
        state = repository.to_state(await repository.get_row(session, agreement_id))
    directory = ex.app.state.federation.directory.require()
    signature = x.envelope(
        directory,
        to=body["parties"][1] if body["parties"][0] == "ngo-x" else body["parties"][0],
        type="agreement.signed",
        body={
            "agreement": {
                "id": state.id,
                "version": state.version,
                "terms": state.terms.model_dump(mode="json"),
                "supersedes": None,
            },
            "signature": x.signature(state).model_dump(mode="json"),
            "digest": state.digest,
            "at": env.format_timestamp(utcnow()),
        },
    )
    assert (await x.post(ex.client, signature)).status_code == 201
    view = (await ex.client.get(f"/v1/agreements/{agreement_id}", headers=headers)).json()
    assert view["status"] == "active", view
    return agreement_id


async def test_a_cancellation_from_an_agency_that_did_not_send_the_referral_changes_nothing(
    app, client, tmp_path
) -> None:
    ex, x = await _with_outsider(app, client, tmp_path)
    referral = await ex.sent()
    directory = app.state.federation.directory.require()
    forged = x.envelope(
        directory,
        to="iom",
        type="referral.cancelled",
        body={"referral_id": referral["id"], "at": env.format_timestamp(utcnow())},
        referral=referral["id"],
    )

    assert "not_counterpart" in _refusal(await x.post(ex.client, forged))

    still = await ex.client.get(
        f"/v1/referrals/{referral['id']}", headers=ex.people["iom_counsellor"]
    )
    assert still.status_code == 200, still.text
    assert still.json()["status"] == "received"
    assert still.json()["data"]["identity"]


async def test_a_referral_outside_the_agreement_is_refused_with_every_reason_and_not_stored(
    app, client, tmp_path
) -> None:
    ex, x = await _with_outsider(app, client, tmp_path)
    ex.people["iom_admin"] = await _admin(ex, "iom")
    # NGO X may send IOM identity for counselling, on consent, sealed post-quantum.
    body = terms(["ngo-x", "iom"], encryption="hpke-mlkem768-x25519")
    agreement_id = await _agreement_with(ex, x, "iom_admin", body)
    directory = app.state.federation.directory.require()
    referral_id = "01a2d000-0000-7000-8000-0000000000aa"
    forged = x.envelope(
        directory,
        to="iom",
        type="referral.sent",
        body={"referral": {"id": referral_id, "purpose": "reintegration-housing"}},
        # identity sealed with the classical suite only; health is not in the agreement,
        # and has a field no schema knows.
        categories={"identity": IDENTITY, "health": {"conditions": [], "shoe_size": 38}},
        agreement=AgreementRef(id=agreement_id, version=1),
        purpose="reintegration-housing",
        referral=referral_id,
    )

    codes = _refusal(await x.post(ex.client, forged))

    assert set(codes) == {
        "purpose_not_in_agreement",
        "consent_missing",
        "category_not_in_agreement",
        "seal_refused",
        "malformed_field",
    }
    async with app.state.db.sessions() as session:
        held = (await session.scalars(select(Referral).where(Referral.agency == "iom"))).all()
        stored = (
            await session.scalars(
                select(InboxMessage).where(InboxMessage.message_id == forged.header.id)
            )
        ).one()
    assert [r.referral_id for r in held if r.counterpart == "ngo-x"] == []
    assert stored.accepted is False
    assert "sealed" not in stored.envelope, "kept as evidence only, never as data"


async def test_results_the_agreement_does_not_let_back_are_refused_and_not_stored(
    app, client, tmp_path
) -> None:
    ex, x = await _with_outsider(app, client, tmp_path)
    # UNHCR sends NGO X identity; nothing flows back under this agreement.
    agreement_id = await _agreement_with(ex, x, "unhcr_admin", terms(["unhcr", "ngo-x"]))
    consent_id = await seed_consent(
        app, "unhcr", ex.case_id, recipients=["ngo-x"], categories=["identity"]
    )
    drafted = await ex.draft(
        to_agency="ngo-x", agreement_id=agreement_id, consent_id=consent_id, categories=["identity"]
    )
    approved = await ex.client.post(
        f"/v1/referrals/{drafted['id']}/approve", headers=ex.people["unhcr_focal_point"]
    )
    assert approved.status_code == 200, approved.text
    directory = app.state.federation.directory.require()
    at = env.format_timestamp(utcnow())
    accepted = x.envelope(
        directory,
        to="unhcr",
        type="referral.accepted",
        body={"referral_id": drafted["id"], "at": at},
        referral=drafted["id"],
    )
    assert (await x.post(ex.client, accepted)).status_code == 201
    completed = x.envelope(
        directory,
        to="unhcr",
        type="referral.completed",
        body={"referral_id": drafted["id"], "at": at, "outcome": "done"},
        categories={"identity": IDENTITY},
        agreement=AgreementRef(id=agreement_id, version=1),
        referral=drafted["id"],
    )

    codes = _refusal(await x.post(ex.client, completed))

    assert set(codes) == {"sender_not_allowed_for_category", "recipient_not_allowed_for_category"}
    outgoing = await ex.client.get(
        f"/v1/referrals/{drafted['id']}", headers=ex.people["unhcr_focal_point"]
    )
    assert outgoing.json()["status"] == "accepted"
    async with app.state.db.sessions() as session:
        row = (
            await session.scalars(
                select(Referral).where(
                    Referral.referral_id == drafted["id"], Referral.agency == "unhcr"
                )
            )
        ).one()
        results = (
            await session.scalars(select(ReferralData).where(ReferralData.referral_row == row.id))
        ).all()
    assert results == []
    assert row.data_key_wrapped is None


async def _admin(ex: Exchange, agency: str) -> dict[str, str]:
    from tests.support.referrals import person

    return await person(ex.app, ex.client, agency, ["admin"])
