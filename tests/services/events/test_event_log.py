"""The event log (DESIGN §10): every state change of a referral, consent, erasure and
agreement is appended, in the transaction of the change, at the agency whose record changed;
and no event says anything about the person."""

from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from services.events import repository as event_rows
from services.events import service as events
from services.events.models import Event
from services.events.schemas import EventData
from services.referrals import service as referrals
from services.referrals.models import Referral
from tests.support.agreements import terms
from tests.support.cases import system_principal
from tests.support.referrals import Exchange, person

DECLINE_REASON = "Mrs Haddad told us she fears her brother-in-law in Niš."


async def _events(ex: Exchange, agency: str) -> list[Event]:
    async with ex.app.state.db.sessions() as session:
        return list(await event_rows.of_agency(session, agency=agency))


async def _of(ex: Exchange, agency: str, referral_id: str) -> list[Event]:
    return [e for e in await _events(ex, agency) if e.data.get("referral_id") == referral_id]


async def _answer(ex: Exchange, referral_id: str, verb: str, **body) -> None:
    response = await ex.client.post(
        f"/v1/referrals/{referral_id}/{verb}",
        json=body or None,
        headers=ex.people["iom_focal_point" if verb != "complete" else "iom_counsellor"],
    )
    assert response.status_code == 200, response.text
    await ex.deliver()


async def test_a_declined_referral_appends_referral_declined_at_both_agencies(ex: Exchange):
    sent = await ex.sent()

    await _answer(ex, sent["id"], "decline", reason=DECLINE_REASON)

    for agency, direction, counterpart in (
        ("unhcr", "outgoing", "iom"),
        ("iom", "incoming", "unhcr"),
    ):
        declined = [e for e in await _of(ex, agency, sent["id"]) if e.type == "referral.declined"]
        assert len(declined) == 1, f"one referral.declined at {agency}"
        data = declined[0].data
        assert data["status"] == "declined"
        assert data["direction"] == direction
        assert data["counterpart"] == counterpart
        assert data["from_status"] == ("sent" if agency == "unhcr" else "received")
        assert declined[0].timestamp.tzinfo is not None


async def test_the_event_log_tells_each_sides_history_of_a_referral(ex: Exchange):
    sent = await ex.sent()
    await _answer(ex, sent["id"], "accept")
    await _answer(ex, sent["id"], "complete", outcome="decided_to_return")

    for agency in ("unhcr", "iom"):
        async with ex.app.state.db.sessions() as session:
            row = await referrals.get_row(session, principal=agency, referral_id=sent["id"])
            history = [h["status"] for h in row.history]
        logged = await _of(ex, agency, sent["id"])
        assert [e.type for e in logged] == [f"referral.{status}" for status in history]
        assert [e.data["status"] for e in logged] == history
    assert [e.type for e in await _of(ex, "unhcr", sent["id"])] == [
        "referral.pending_approval",
        "referral.approved",
        "referral.sent",
        "referral.accepted",
        "referral.completed",
    ]
    completed = (await _of(ex, "iom", sent["id"]))[-1]
    assert "case_id" not in completed.data, "the recipient holds no case of the sender's"


async def test_a_failed_transaction_leaves_no_event(ex: Exchange):
    draft = await ex.draft()
    focal_point = system_principal("unhcr", roles={"focal_point"})
    before = [e.id for e in await _events(ex, "unhcr")]

    async def cancel_then_fail() -> None:
        async with ex.app.state.db.sessions.begin() as session:
            await referrals.cancel(
                session,
                federation=ex.app.state.federation,
                principal=focal_point,
                referral_id=draft["id"],
            )
            flushed = await event_rows.of_agency(session, agency="unhcr")
            assert flushed[-1].type == "referral.cancelled", "appended with the change"
            raise RuntimeError("the request failed after the change")

    with pytest.raises(RuntimeError):
        await cancel_then_fail()

    assert [e.id for e in await _events(ex, "unhcr")] == before
    async with ex.app.state.db.sessions() as session:
        row = await session.scalars(select(Referral).where(Referral.referral_id == draft["id"]))
        assert row.one().status == "pending_approval"


async def test_a_consent_withdrawal_logs_the_consent_the_revocations_and_the_erasure(
    ex: Exchange,
):
    sent = await ex.sent()

    withdrawn = await ex.client.post(
        f"/v1/consents/{ex.consent_id}/withdraw",
        json={"reason": "Amina no longer trusts the counsellor."},
        headers=ex.people["unhcr_caseworker"],
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await ex.deliver()
    await ex.deliver()

    at_unhcr = [(e.type, e.data) for e in await _events(ex, "unhcr")]
    at_iom = [(e.type, e.data) for e in await _events(ex, "iom")]
    unhcr_types = [t for t, _ in at_unhcr]
    assert "consent.given" in unhcr_types
    assert (
        "consent.withdrawn",
        {
            "consent_id": ex.consent_id,
            "case_id": ex.case_id,
            "status": "withdrawn",
            "from_status": "given",
        },
    ) in at_unhcr
    # Sender: revoked, erasure requested, then the recipient's receipt confirmed it.
    mine = [t for t, d in at_unhcr if d.get("referral_id") == sent["id"]]
    assert mine[-3:] == ["referral.revoked", "erasure.requested", "erasure.confirmed"]
    theirs = [t for t, d in at_iom if d.get("referral_id") == sent["id"]]
    assert theirs[-2:] == ["referral.revoked", "erasure.erased"]
    assert unhcr_types.index("consent.withdrawn") < unhcr_types.index("referral.revoked")


async def test_a_superseded_consent_is_logged_with_its_successor(ex: Exchange):
    body = {
        "supersedes": ex.consent_id,
        "purposes": ["avrr-counselling"],
        "recipients": ["iom"],
        "categories": ["identity"],
        "given_by": "self",
        "method": "written",
        "valid_until": "2030-01-01T00:00:00Z",
    }
    response = await ex.client.post(
        f"/v1/cases/{ex.case_id}/consents", json=body, headers=ex.people["unhcr_caseworker"]
    )
    assert response.status_code == 201, response.text
    successor = response.json()["id"]

    logged = [(e.type, e.data) for e in await _events(ex, "unhcr") if e.type.startswith("consent")]
    assert logged[-2:] == [
        ("consent.given", {"consent_id": successor, "case_id": ex.case_id, "status": "given"}),
        (
            "consent.superseded",
            {
                "consent_id": ex.consent_id,
                "case_id": ex.case_id,
                "status": "superseded",
                "from_status": "given",
                "superseded_by": successor,
            },
        ),
    ]


async def test_every_state_change_of_an_agreement_is_logged_at_each_party_hosted_here(
    ex: Exchange,
):
    admin = ex.people["unhcr_admin"]
    for verb, body in (
        ("suspend", {"reason": "audit"}),
        ("resume", None),
        ("terminate", {"reason": "programme over"}),
    ):
        response = await ex.client.post(
            f"/v1/agreements/{ex.agreement_id}/{verb}", json=body, headers=admin
        )
        assert response.status_code == 200, response.text

    for agency in ("unhcr", "iom"):
        logged = [
            (e.type, e.data.get("status"))
            for e in await _events(ex, agency)
            if e.type.startswith("agreement.")
        ]
        assert logged == [
            ("agreement.drafted", "draft"),
            ("agreement.proposed", "proposed"),
            ("agreement.signed", "proposed"),
            ("agreement.signed", "active"),
            ("agreement.activated", "active"),
            ("agreement.suspended", "suspended"),
            ("agreement.resumed", "active"),
            ("agreement.terminated", "terminated"),
        ], agency
    signed = [e for e in await _events(ex, "iom") if e.type == "agreement.signed"]
    assert [e.data["by"] for e in signed] == ["unhcr", "iom"]
    assert all(e.data["agreement_id"] == ex.agreement_id for e in signed)


async def test_an_amendment_signed_by_all_logs_the_old_version_superseded(ex: Exchange):
    admins = {
        "unhcr": ex.people["unhcr_admin"],
        "iom": await person(ex.app, ex.client, "iom", ["admin"]),
    }
    amended = await ex.client.post(
        f"/v1/agreements/{ex.agreement_id}/amend",
        json=terms(["unhcr", "iom"]),
        headers=admins["unhcr"],
    )
    assert amended.status_code == 201, amended.text
    digest = (
        await ex.client.post(f"/v1/agreements/{ex.agreement_id}/propose", headers=admins["unhcr"])
    ).json()["digest"]
    for agency in ("unhcr", "iom"):
        signed = await ex.client.post(
            f"/v1/agreements/{ex.agreement_id}/sign",
            json={"digest": digest},
            headers=admins[agency],
        )
        assert signed.status_code == 200, signed.text

    logged = [
        (e.type, e.data.get("version"))
        for e in await _events(ex, "iom")
        if e.type.startswith("agreement.")
    ]
    assert logged[-6:] == [
        ("agreement.amended", 2),
        ("agreement.proposed", 2),
        ("agreement.signed", 2),
        ("agreement.signed", 2),
        ("agreement.activated", 2),
        ("agreement.superseded", 1),
    ]


async def test_no_event_carries_personal_data(ex: Exchange):
    """A whole referral's life with a named person, her facts and a decline reason in her
    words, then her withdrawal: the log holds ids, statuses and codes only."""
    first = await ex.sent()
    await _answer(ex, first["id"], "decline", reason=DECLINE_REASON)
    second = await ex.sent()
    await _answer(ex, second["id"], "accept")
    await _answer(ex, second["id"], "complete", outcome="decided_to_return")
    third = await ex.sent()
    await ex.client.post(
        f"/v1/consents/{ex.consent_id}/withdraw",
        json={"reason": "Amina Haddad moved in with her sister."},
        headers=ex.people["unhcr_caseworker"],
    )
    await ex.deliver()
    await ex.deliver()

    logged = [*await _events(ex, "unhcr"), *await _events(ex, "iom")]
    assert {third["id"], first["id"]} <= {e.data.get("referral_id") for e in logged}
    text = json.dumps([e.data for e in logged]).lower()
    for personal in (
        "amina",
        "haddad",
        "serbian",
        "srb",
        "trafficking",
        "1990-05-02",
        "a.h@example.org",
        "needs_escort",
        "niš",
        "brother",
        "sister",
        "woman counsellor",
        "de-2026-",
    ):
        assert personal not in text, f"{personal!r} is in the event log"
    allowed = set(EventData.model_fields)
    assert all(set(e.data) <= allowed for e in logged)


@pytest.mark.parametrize(
    "data",
    [
        {"referral_id": str(uuid.uuid4()), "reason": "She fears her brother"},
        {"referral_id": str(uuid.uuid4()), "name": "Amina Haddad"},
        {"case_id": str(uuid.uuid4()), "facts": {"trafficking_victim": True}},
        {"stage": "Amina Haddad"},
        {"counterpart": "Amina Haddad"},
    ],
)
async def test_an_event_with_anything_but_ids_statuses_and_codes_is_refused(ex: Exchange, data):
    with pytest.raises(ValidationError):
        async with ex.app.state.db.sessions.begin() as session:
            await events.append(session, agency="unhcr", type="referral.declined", data=data)
    assert not [e for e in await _events(ex, "unhcr") if e.type == "referral.declined"]
