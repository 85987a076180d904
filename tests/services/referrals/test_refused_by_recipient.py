"""A referral the recipient's node refuses comes back as ``refused_by_recipient`` with every
reason and the recipient's signed refusal receipt, on nodes with a database each: IOM
suspended the agreement, and UNHCR's node had not heard yet (a slow peer). A referral that
arrives before the agreement's last signature has reached the recipient waits instead."""

from __future__ import annotations

from contracts import envelope as env
from services.cases import service as cases
from tests.support.agreements import terms
from tests.support.cases import seed_consent, system_principal
from tests.support.nodes import Node, Nodes
from tests.support.referrals import CATEGORIES, case_with_everything


async def _active_agreement(nodes: Nodes, a: Node, b: Node) -> str:
    admin_a = await a.headers("unhcr", ["admin"])
    admin_b = await b.headers("iom", ["admin"])
    drafted = await a.client.post("/v1/agreements", json=terms(["unhcr", "iom"]), headers=admin_a)
    agreement_id = drafted.json()["id"]
    digest = (
        await a.client.post(f"/v1/agreements/{agreement_id}/propose", headers=admin_a)
    ).json()["digest"]
    await nodes.settle()
    for node, headers in ((b, admin_b), (a, admin_a)):
        signed = await node.client.post(
            f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}, headers=headers
        )
        assert signed.status_code == 200, signed.text
    await nodes.settle()
    for node, headers in ((a, admin_a), (b, admin_b)):
        view = await node.client.get(f"/v1/agreements/{agreement_id}", headers=headers)
        assert view.json()["status"] == "active", node.name
    return agreement_id


async def _case_and_consent(node: Node) -> tuple[str, str]:
    async with node.app.state.db.sessions.begin() as session:
        case = await cases.create(
            session,
            principal=system_principal("unhcr", data_roles={"protection_officer"}),
            master_key=node.app.state.master_key,
            body=case_with_everything(),
        )
    consent_id = await seed_consent(
        node.app, "unhcr", str(case.id), recipients=["iom"], categories=CATEGORIES
    )
    return str(case.id), consent_id


async def _approved_referral(node: Node, agreement_id: str) -> tuple[str, dict[str, str]]:
    """UNHCR refers its case to IOM, drafted and approved; the approver's headers."""
    case_id, consent_id = await _case_and_consent(node)
    drafted = await node.client.post(
        "/v1/referrals",
        json={
            "case_id": case_id,
            "to_agency": "iom",
            "purpose": "avrr-counselling",
            "agreement_id": agreement_id,
            "consent_id": consent_id,
            "categories": CATEGORIES,
        },
        headers=await node.headers("unhcr", ["caseworker"]),
    )
    assert drafted.status_code == 201, drafted.text
    referral_id = drafted.json()["id"]
    focal = await node.headers("unhcr", ["focal_point"])
    approved = await node.client.post(f"/v1/referrals/{referral_id}/approve", headers=focal)
    assert approved.status_code == 200, approved.text
    return referral_id, focal


async def test_a_referral_ahead_of_the_agreements_last_signature_waits_for_it(
    nodes: Nodes,
) -> None:
    a = await nodes.add("a", ["unhcr"])
    b = await nodes.add("b", ["iom"])
    c = await nodes.add("c", ["gov-de"])
    await nodes.publish()
    admins = {
        a: await a.headers("unhcr", ["admin"]),
        b: await b.headers("iom", ["admin"]),
        c: await c.headers("gov-de", ["admin"]),
    }
    body = terms(["unhcr", "iom", "gov-de"])
    agreement_id = (await a.client.post("/v1/agreements", json=body, headers=admins[a])).json()[
        "id"
    ]
    digest = (
        await a.client.post(f"/v1/agreements/{agreement_id}/propose", headers=admins[a])
    ).json()["digest"]
    await nodes.settle()
    for node in (a, b):
        await node.client.post(
            f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}, headers=admins[node]
        )
    await nodes.settle()
    # GOV-DE signs last; its signature reaches UNHCR's node but not yet IOM's.
    nodes.router.down.add("b.nodes.test")
    await c.client.post(
        f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}, headers=admins[c]
    )
    await c.deliver()
    referral_id, focal = await _approved_referral(a, agreement_id)
    nodes.router.down.clear()

    await a.deliver()
    waiting = (await a.client.get(f"/v1/referrals/{referral_id}", headers=focal)).json()
    assert waiting["status"] == "approved", "not refused: IOM's node is only behind"

    await c.retry_now()
    await c.deliver()  # the last signature reaches IOM's node
    await a.retry_now()
    await nodes.settle()
    sent = (await a.client.get(f"/v1/referrals/{referral_id}", headers=focal)).json()
    assert sent["status"] == "sent"


async def test_a_referral_the_recipient_refuses_is_refused_by_recipient_with_every_reason(
    nodes: Nodes,
) -> None:
    a = await nodes.add("a", ["unhcr"])
    b = await nodes.add("b", ["iom"])
    await nodes.publish()
    agreement_id = await _active_agreement(nodes, a, b)
    suspended = await b.client.post(
        f"/v1/agreements/{agreement_id}/suspend",
        json={"reason": "audit finding"},
        headers=await b.headers("iom", ["admin"]),
    )
    assert suspended.status_code == 200, suspended.text

    referral_id, focal = await _approved_referral(a, agreement_id)

    await nodes.settle(only=["a"])

    outgoing = (await a.client.get(f"/v1/referrals/{referral_id}", headers=focal)).json()
    assert outgoing["status"] == "refused_by_recipient"
    assert [r["code"] for r in outgoing["refusal"]] == ["agreement_suspended"]
    assert "suspended" in outgoing["refusal"][0]["message"]
    evidence = (await a.client.get(f"/v1/referrals/{referral_id}/evidence", headers=focal)).json()
    [document] = evidence["receipts"]
    signed = env.SignedReceipt.model_validate(document)
    directory = a.app.state.federation.directory.require()
    refusal = env.verify_receipt(
        signed, directory.member_key("iom", signed.signature.kid, at=signed.receipt.at)
    )
    assert isinstance(refusal, env.DeliveryReceipt)
    assert refusal.accepted is False
    assert refusal.message_id == evidence["envelope"]["header"]["id"]
    assert "sealed" not in evidence["envelope"], "the sender keeps evidence, not the content"

    incoming = await b.client.get(
        "/v1/referrals",
        params={"direction": "incoming"},
        headers=await b.headers("iom", ["focal_point"]),
    )
    assert incoming.json()["items"] == [], "nothing of a refused referral is stored"
