"""Agreements are drafted with every fault named, signed by each party's admin over the same
text, active only when all have signed, and refused everywhere once suspended."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from contracts.agreements import AgreementRef, AgreementTerms, new_draft
from contracts.canonical import canonical_digest
from kit.db.base import new_id, utcnow
from services.agreements import repository
from services.federation.models import FederationIncident, OutboxMessage
from services.federation.outbox import DeliveryWorker, send
from tests.support.agreements import terms


async def _draft(client, admins, body):
    response = await client.post("/v1/agreements", json=body, headers=admins["unhcr"])
    assert response.status_code == 201, response.text
    return response.json()


async def _activate(client, admins, body):
    agreement = await _draft(client, admins, body)
    agreement_id = agreement["id"]
    proposed = await client.post(f"/v1/agreements/{agreement_id}/propose", headers=admins["unhcr"])
    assert proposed.status_code == 200, proposed.text
    for agency in ("unhcr", "iom"):
        signed = await client.post(
            f"/v1/agreements/{agreement_id}/sign",
            json={"digest": proposed.json()["digest"]},
            headers=admins[agency],
        )
        assert signed.status_code == 200, signed.text
    return signed.json()


async def test_every_fault_of_a_draft_is_named(client, admins) -> None:
    body = terms(["unhcr", "ngo-ghost"])
    body["categories"]["medical_records"] = {"senders": ["unhcr"], "recipients": ["ngo-ghost"]}
    body["categories"]["contact"]["recipients"] = ["ilo"]
    body["categories"]["health"] = {"senders": ["unhcr"], "recipients": ["ngo-ghost"]}
    body["valid_until"], body["valid_from"] = body["valid_from"], body["valid_until"]
    response = await client.post("/v1/agreements", json=body, headers=admins["unhcr"])
    assert response.status_code == 422
    codes = {(e["code"], e["location"]) for e in response.json()["errors"]}
    assert ("party_unknown", "body.parties.1") in codes
    assert ("category_unknown", "body.categories.medical_records") in codes
    assert ("recipient_not_party", "body.categories.contact.recipients.0") in codes
    assert ("data_roles_missing", "body.categories.health.data_roles") in codes
    assert any(code == "validity_order" for code, _ in codes)


async def test_every_category_without_data_roles_is_refused_at_drafting(client, admins) -> None:
    # DESIGN §9: an empty list would let everyone at the recipient read the category.
    body = terms(["unhcr", "iom"])
    del body["categories"]["identity"]["data_roles"]
    body["categories"]["contact"]["data_roles"] = []
    response = await client.post("/v1/agreements", json=body, headers=admins["unhcr"])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["code"], e["location"]) for e in response.json()["errors"]] == [
        ("data_roles_missing", "body.categories.identity.data_roles"),
        ("data_roles_missing", "body.categories.contact.data_roles"),
    ]


async def test_an_agreement_stored_without_data_roles_keeps_working_with_warnings(
    app, client, admins
) -> None:
    legacy = terms(["unhcr", "iom"])
    del legacy["categories"]["identity"]["data_roles"]
    state = new_draft(str(new_id()), AgreementTerms.model_validate(legacy), by="unhcr", at=utcnow())
    async with app.state.db.sessions.begin() as session:
        await repository.save(session, state)

    got = await client.get(f"/v1/agreements/{state.id}", headers=admins["unhcr"])
    assert got.status_code == 200, got.text
    [warning] = got.json()["warnings"]
    assert (warning["code"], warning["category"]) == ("data_roles_missing", "identity")
    assert "everyone at iom who reads referrals may read identity" in warning["message"]
    assert got.json()["canonical"]["categories"]["identity"]["data_roles"] == []

    listed = await client.get("/v1/agreements", headers=admins["unhcr"])
    [summary] = [a for a in listed.json()["items"] if a["id"] == state.id]
    assert summary["warnings"] == got.json()["warnings"]

    proposed = await client.post(f"/v1/agreements/{state.id}/propose", headers=admins["unhcr"])
    assert proposed.status_code == 200, "a held agreement still moves through its lifecycle"
    current = await _activate(client, admins, terms(["unhcr", "iom"]))
    assert current["warnings"] == []


async def test_two_parties_sign_the_same_text_and_it_becomes_active(client, admins) -> None:
    body = terms(["unhcr", "iom"])
    agreement = await _draft(client, admins, body)
    assert agreement["status"] == "draft"
    active = await _activate(client, admins, body | {"title": "Second"})
    assert active["status"] == "active"
    assert active["digest"] == canonical_digest(active["canonical"])
    assert sorted(s["agency"] for s in active["signatures"]) == ["iom", "unhcr"]
    assert all(s["verified"] for s in active["signatures"])
    assert active["unsigned_parties"] == []
    seen_by_iom = await client.get(f"/v1/agreements/{active['id']}", headers=admins["iom"])
    assert seen_by_iom.json()["status"] == "active"


async def test_a_signature_over_another_text_is_refused(client, admins) -> None:
    agreement = await _draft(client, admins, terms(["unhcr", "iom"]))
    await client.post(f"/v1/agreements/{agreement['id']}/propose", headers=admins["unhcr"])
    response = await client.post(
        f"/v1/agreements/{agreement['id']}/sign", json={"digest": "0" * 64}, headers=admins["iom"]
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/stale-digest"
    assert response.json()["current_digest"] == agreement["digest"]


async def test_only_admins_sign(client, admins, focal_point_token) -> None:
    agreement = await _draft(client, admins, terms(["unhcr", "iom"]))
    await client.post(f"/v1/agreements/{agreement['id']}/propose", headers=admins["unhcr"])
    response = await client.post(
        f"/v1/agreements/{agreement['id']}/sign",
        json={"digest": agreement["digest"]},
        headers=focal_point_token,
    )
    assert response.status_code == 403


async def test_a_non_party_can_neither_see_nor_sign(app, client, admins) -> None:
    from tests.support.federation import member_entries
    from tests.support.identity import bearer, client_token, seed_client

    await member_entries(app, "http://127.0.0.1:8000", ["ilo"])
    ilo = bearer(await client_token(client, await seed_client(app, "ilo")))
    agreement = await _draft(client, admins, terms(["unhcr", "iom"]))
    assert (await client.get(f"/v1/agreements/{agreement['id']}", headers=ilo)).status_code == 404
    refused = await client.post(
        f"/v1/agreements/{agreement['id']}/sign", json={"digest": agreement["digest"]}, headers=ilo
    )
    assert refused.status_code == 404


async def _decision(client, admins, agreement_id):
    response = await client.post(
        f"/v1/agreements/{agreement_id}/decisions",
        json={"recipient": "iom", "purpose": "avrr-counselling", "categories": ["identity"]},
        headers=admins["unhcr"],
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_suspension_refuses_every_disclosure_until_resumed(client, admins) -> None:
    active = await _activate(client, admins, terms(["unhcr", "iom"], legal_basis="public_interest"))
    assert (await _decision(client, admins, active["id"]))["allowed"] is True
    suspended = await client.post(
        f"/v1/agreements/{active['id']}/suspend",
        json={"reason": "data breach under review"},
        headers=admins["iom"],
    )
    assert suspended.json()["status"] == "suspended"
    decision = await _decision(client, admins, active["id"])
    assert decision["allowed"] is False
    assert [r["code"] for r in decision["reasons"]] == ["agreement_suspended"]
    # Only the party that suspended lifts its suspension.
    wrong = await client.post(f"/v1/agreements/{active['id']}/resume", headers=admins["unhcr"])
    assert wrong.status_code == 409
    await client.post(f"/v1/agreements/{active['id']}/resume", headers=admins["iom"])
    assert (await _decision(client, admins, active["id"]))["allowed"] is True


async def test_consent_basis_without_consent_is_refused_with_its_reason(client, admins) -> None:
    active = await _activate(client, admins, terms(["unhcr", "iom"]))
    decision = await _decision(client, admins, active["id"])
    assert [r["code"] for r in decision["reasons"]] == ["consent_missing"]


async def test_an_amendment_supersedes_once_every_party_signed(client, admins) -> None:
    first = await _activate(client, admins, terms(["unhcr", "iom"]))
    amended = await client.post(
        f"/v1/agreements/{first['id']}/amend",
        json=terms(["unhcr", "iom"], retention_days=90),
        headers=admins["unhcr"],
    )
    assert amended.status_code == 201, amended.text
    assert amended.json()["version"] == 2
    await client.post(f"/v1/agreements/{first['id']}/propose", headers=admins["unhcr"])
    digest = (await client.get(f"/v1/agreements/{first['id']}", headers=admins["unhcr"])).json()[
        "digest"
    ]
    for agency in ("unhcr", "iom"):
        await client.post(
            f"/v1/agreements/{first['id']}/sign", json={"digest": digest}, headers=admins[agency]
        )
    old = await client.get(
        f"/v1/agreements/{first['id']}", params={"version": 1}, headers=admins["unhcr"]
    )
    assert old.json()["status"] == "superseded"
    assert old.json()["superseded_by"] == {"id": first["id"], "version": 2}


async def test_nothing_queued_under_a_suspended_agreement_is_delivered(
    app, client, admins, node
) -> None:
    body = terms(["unhcr", "iom"], legal_basis="public_interest")
    active = await _activate(client, admins, body)
    async with app.state.db.sessions.begin() as session:
        await send(
            session,
            app.state.federation,
            sender="unhcr",
            recipient="iom",
            type="federation.ping",
            body={"seq": 1},
            agreement=AgreementRef(id=active["id"], version=1),
        )
    await client.post(
        f"/v1/agreements/{active['id']}/suspend", json={"reason": "breach"}, headers=admins["unhcr"]
    )
    assert await DeliveryWorker(app.state.federation).deliver_round() == 1
    async with app.state.db.sessions() as session:
        message = (await session.scalars(select(OutboxMessage))).one()
        kinds = (await session.scalars(select(FederationIncident.kind))).all()
    assert message.status == "cancelled"
    assert "suspended" in message.last_error
    assert "cancelled-by-policy" in kinds


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_proposals_reach_a_party_on_another_node(app, client, admins, node) -> None:
    body = terms(["unhcr", "ngo-x"], legal_basis="public_interest")
    body["categories"] = {
        "identity": {"senders": ["unhcr"], "recipients": ["ngo-x"], "data_roles": ["counsellor"]}
    }
    agreement = await _draft(client, admins, body)
    await client.post(f"/v1/agreements/{agreement['id']}/propose", headers=admins["unhcr"])
    async with app.state.db.sessions() as session:
        [message] = (await session.scalars(select(OutboxMessage))).all()
    assert message.recipient == "ngo-x"
    assert message.type == "agreement.proposed"
    assert message.envelope["body"]["agreement"]["id"] == agreement["id"]


async def test_nothing_queued_under_a_withdrawn_consent_is_delivered(
    app, client, admins, node
) -> None:
    from tests.support.cases import seed_case, seed_consent

    case_id = await seed_case(app, "unhcr")
    consent_id = await seed_consent(app, "unhcr", case_id, recipients=["iom"])
    async with app.state.db.sessions.begin() as session:
        await send(
            session,
            app.state.federation,
            sender="unhcr",
            recipient="iom",
            type="federation.ping",
            body={"seq": 1},
            consent=consent_id,
        )
    caseworker = await _caseworker(app, client)
    withdrawn = await client.post(
        f"/v1/consents/{consent_id}/withdraw", json={}, headers=caseworker
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert await DeliveryWorker(app.state.federation).deliver_round() == 1
    async with app.state.db.sessions() as session:
        message = (await session.scalars(select(OutboxMessage))).one()
    assert message.status == "cancelled"
    assert "withdrawn" in message.last_error


async def _caseworker(app, client):
    from tests.support.identity import bearer, client_token, seed_client

    return bearer(await client_token(client, await seed_client(app, "unhcr", roles=["caseworker"])))


async def test_a_version_out_of_range_is_refused_not_a_server_error(client, admins) -> None:
    """Schemathesis found a 500: the version went to the database as it was sent."""
    agreement = await _draft(client, admins, terms(["unhcr", "iom"]))
    for version in ("-62834051705837969211392", "0", str(2**31)):
        response = await client.get(
            f"/v1/agreements/{agreement['id']}",
            params={"version": version},
            headers=admins["unhcr"],
        )
        assert response.status_code == 422, (version, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["location"] == "query.version"


async def test_the_list_is_a_page_newest_first_filtered_by_status_now(client, admins) -> None:
    drafted = [
        (await _draft(client, admins, terms(["unhcr", "iom"], title=f"Draft {i}")))["id"]
        for i in range(3)
    ]
    active = await _activate(client, admins, terms(["unhcr", "iom"], title="In force"))
    seen = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/agreements", params=params, headers=admins["iom"])).json()
        assert page["limit"] == 2
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [active["id"], *reversed(drafted)]
    only = await client.get("/v1/agreements", params={"status": "draft"}, headers=admins["iom"])
    assert [item["id"] for item in only.json()["items"]] == list(reversed(drafted))
    # Filtered in Python (the status is as of now), paged all the same.
    one_by_one, cursor = [], None
    while True:
        params = {"status": "draft", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/agreements", params=params, headers=admins["iom"])).json()
        one_by_one += [item["id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert one_by_one == list(reversed(drafted))
    mine = await client.get("/v1/agreements", params={"party": "ngo-x"}, headers=admins["unhcr"])
    assert mine.json() == {"items": [], "next_cursor": None, "limit": 50}
    wrong = await client.get("/v1/agreements", params={"status": "dormant"}, headers=admins["iom"])
    assert wrong.status_code == 422


async def test_listing_takes_as_many_queries_for_many_agreements_as_for_few(
    app, client, admins
) -> None:
    """No query per row (N+1): the token check and one page query, whatever the page holds."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    # Every engine's statements: the app may run on its own engine or on the test's connection.
    from sqlalchemy.engine import Engine as engine

    queries = []
    for _ in range(2):
        for i in range(3):
            await _draft(client, admins, terms(["unhcr", "iom"], title=f"Draft {i}"))
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            listed = await client.get("/v1/agreements", headers=admins["unhcr"])
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert listed.status_code == 200
        queries.append(len(statements))
    assert queries[0] == queries[1], statements
