"""Only a party changes an agreement: a member node that is not a party cannot rewrite a
proposal or retire an agreement in force through a "new version", alone or with an agency it
hosts beside it; each such message is refused with a signed refusal receipt naming why."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import envelope as env
from contracts.agreements import AgreementRef, AgreementState, AgreementStatus, validate_terms
from kit.db.base import utcnow
from tests.services.federation.conftest import ROOT
from tests.support.agreements import terms
from tests.support.federation import join
from tests.support.foreign import ForeignAgency
from tests.support.identity import BASE_URL

KNOWN = {"unhcr", "iom", "ngo-x", "ngo-y"}


@pytest.fixture
async def node(app, client, tmp_path) -> tuple[ForeignAgency, ForeignAgency]:
    """UNHCR and IOM share this node; NGO X and NGO Y share another, which the test plays."""
    x, y = ForeignAgency("ngo-x"), ForeignAgency("ngo-y")
    await join(
        app,
        tmp_path / "directory.json",
        ROOT,
        BASE_URL,
        ["unhcr", "iom"],
        others=[x.member(), y.member()],
    )
    return x, y


def _state(agreement_id: str, version: int, parties: list[str], supersedes: int | None) -> Any:
    body = terms(parties)
    body["categories"] = {
        "identity": {
            "senders": [parties[0]],
            "recipients": parties[1:],
            "data_roles": ["counsellor"],
        }
    }
    return AgreementState(
        id=agreement_id,
        version=version,
        terms=validate_terms(body, known_agencies=KNOWN),
        status=AgreementStatus.PROPOSED,
        supersedes=AgreementRef(id=agreement_id, version=supersedes) if supersedes else None,
    )


def _snapshot(state: AgreementState) -> dict[str, Any]:
    return {
        "id": state.id,
        "version": state.version,
        "terms": state.terms.model_dump(mode="json"),
        "supersedes": state.supersedes.model_dump(mode="json") if state.supersedes else None,
    }


def _at() -> str:
    return env.format_timestamp(utcnow())


async def _propose(app, client, by: ForeignAgency, state: AgreementState):
    directory = app.state.federation.directory.require()
    envelope = by.envelope(
        directory,
        to="iom",
        type="agreement.proposed",
        body={"agreement": _snapshot(state), "at": _at()},
    )
    return await by.post(client, envelope)


async def _sign(app, client, by: ForeignAgency, state: AgreementState):
    directory = app.state.federation.directory.require()
    body = {
        "agreement": _snapshot(state),
        "signature": by.signature(state).model_dump(mode="json"),
        "digest": state.digest,
        "at": _at(),
    }
    envelope = by.envelope(directory, to="iom", type="agreement.signed", body=body)
    return await by.post(client, envelope)


def _refused_with(response, code: str) -> None:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert code in [v["code"] for v in problem["violations"]], problem
    receipt = env.SignedReceipt.model_validate(problem["receipt"]).receipt
    assert isinstance(receipt, env.DeliveryReceipt)
    assert receipt.accepted is False


async def _agreement(client, admins, *, sign: bool) -> dict[str, Any]:
    body = terms(["unhcr", "iom"], legal_basis="public_interest")
    drafted = await client.post("/v1/agreements", json=body, headers=admins["unhcr"])
    agreement_id = drafted.json()["id"]
    proposed = await client.post(f"/v1/agreements/{agreement_id}/propose", headers=admins["unhcr"])
    if sign:
        for agency in ("unhcr", "iom"):
            await client.post(
                f"/v1/agreements/{agreement_id}/sign",
                json={"digest": proposed.json()["digest"]},
                headers=admins[agency],
            )
    return (await client.get(f"/v1/agreements/{agreement_id}", headers=admins["iom"])).json()


async def _version(client, admins, agreement_id: str, version: int) -> dict[str, Any] | None:
    response = await client.get(
        f"/v1/agreements/{agreement_id}", params={"version": version}, headers=admins["unhcr"]
    )
    return response.json() if response.status_code == 200 else None


async def test_a_non_party_cannot_rewrite_a_proposal(app, client, admins, node) -> None:
    x, _ = node
    held = await _agreement(client, admins, sign=False)
    # NGO X names itself a party and sends other text under the held id and version.
    rewritten = _state(held["id"], 1, ["unhcr", "iom", "ngo-x"], None)

    _refused_with(await _propose(app, client, x, rewritten), "held_version_differs")

    now = (await client.get(f"/v1/agreements/{held['id']}", headers=admins["iom"])).json()
    assert now["digest"] == held["digest"]
    assert now["status"] == "proposed"
    assert sorted(now["canonical"]["parties"]) == ["iom", "unhcr"]


async def test_a_non_party_cannot_retire_an_active_agreement_through_a_new_version(
    app, client, admins, node
) -> None:
    x, _ = node
    v1 = await _agreement(client, admins, sign=True)
    assert v1["status"] == "active"
    v2 = _state(v1["id"], 2, ["ngo-x", "iom"], supersedes=1)

    _refused_with(await _propose(app, client, x, v2), "sender_not_party_of_held_version")
    await _sign(app, client, x, v2)
    # A careless IOM admin signs whatever is newest.
    await client.post(
        f"/v1/agreements/{v1['id']}/sign", json={"digest": v2.digest}, headers=admins["iom"]
    )

    assert (await _version(client, admins, v1["id"], 1) or {})["status"] == "active"
    assert await _version(client, admins, v1["id"], 2) is None, "no second version is held"


async def test_two_co_hosted_agencies_cannot_retire_it_together(app, client, admins, node) -> None:
    x, y = node
    v1 = await _agreement(client, admins, sign=True)
    v2 = _state(v1["id"], 2, ["ngo-x", "ngo-y"], supersedes=1)

    refused = await _propose(app, client, x, v2)
    _refused_with(refused, "recipient_not_party")
    _refused_with(refused, "sender_not_party_of_held_version")
    for party in (x, y):
        signed = await _sign(app, client, party, v2)
        assert signed.status_code in (409, 422), signed.text

    assert (await _version(client, admins, v1["id"], 1) or {})["status"] == "active"
    decision = await client.post(
        f"/v1/agreements/{v1['id']}/decisions",
        json={"recipient": "iom", "purpose": "avrr-counselling", "categories": ["identity"]},
        headers=admins["unhcr"],
    )
    assert decision.json()["allowed"] is True, decision.json()


async def test_a_non_party_cannot_suspend_it(app, client, admins, node) -> None:
    x, _ = node
    v1 = await _agreement(client, admins, sign=True)
    directory = app.state.federation.directory.require()
    envelope = x.envelope(
        directory,
        to="iom",
        type="agreement.suspended",
        body={"id": v1["id"], "version": 1, "by": "ngo-x", "reason": "because", "at": _at()},
    )
    _refused_with(await x.post(client, envelope), "sender_not_party")
    assert (await _version(client, admins, v1["id"], 1) or {})["status"] == "active"
