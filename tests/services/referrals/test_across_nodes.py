"""Issue 6 end to end on three nodes in one process: UNHCR refers a person to IOM for
counselling; IOM's counsellor reads what her role allows; IOM completes; the person withdraws
consent and IOM's copy is erased, with IOM's signed erasure receipt held at UNHCR; every audit
chain verifies. (Moved from tests/federation, where real nodes ran it: what it tests is the
referral protocol, not the wire; the test drives each delivery.)"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from typer.testing import CliRunner

from auth.scopes import ALL_ROLES
from contracts import envelope as env
from contracts.directory import verify_directory
from services.cli import cli
from tests.support.agreements import terms
from tests.support.app import TEST_MASTER_KEY
from tests.support.cases import PROTECTION, adult_case_body
from tests.support.nodes import Node, Nodes

CATEGORIES = ["identity", "contact", "specific_needs", "protection"]


async def _call(
    node: Node, headers: dict[str, str], method: str, path: str, **kwargs: Any
) -> httpx.Response:
    return await node.client.request(method, path, headers=headers, **kwargs)


async def _audit_verify_exit(node: Node) -> int:
    """`accord audit verify` on the node's database, as an operator runs it (in a thread: the
    command runs its own event loop)."""
    env_ = {
        "ACCORD_DATABASE_URL": node.app.state.settings.database_url,
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "verify"], env=env_)
    return result.exit_code


async def test_refer_read_complete_withdraw_erase_on_three_nodes(nodes: Nodes) -> None:
    a = await nodes.add("a", ["unhcr"])
    b = await nodes.add("b", ["iom", "ilo"])
    c = await nodes.add("c", ["gov-de"])
    await nodes.publish()
    at = {"unhcr": a, "iom": b, "gov-de": c}
    # Each agency's admin system, as `accord init` makes it: every role.
    admin = {agency: await node.headers(agency, sorted(ALL_ROLES)) for agency, node in at.items()}

    # The agreement, signed by all three parties at their own nodes.
    body = terms(["unhcr", "iom", "gov-de"])
    agreement_id = (await _call(a, admin["unhcr"], "POST", "/v1/agreements", json=body)).json()[
        "id"
    ]
    digest = (
        await _call(a, admin["unhcr"], "POST", f"/v1/agreements/{agreement_id}/propose")
    ).json()["digest"]
    await nodes.settle()
    for agency, node in at.items():
        proposal = await _call(node, admin[agency], "GET", f"/v1/agreements/{agreement_id}")
        assert proposal.status_code == 200, f"proposal at {agency}"
        signed = await _call(
            node,
            admin[agency],
            "POST",
            f"/v1/agreements/{agreement_id}/sign",
            json={"digest": digest},
        )
        assert signed.status_code == 200, signed.text
    await nodes.settle()
    for agency, node in at.items():
        view = await _call(node, admin[agency], "GET", f"/v1/agreements/{agreement_id}")
        assert view.json()["status"] == "active", f"agreement active at {agency}"

    # UNHCR records the case and the person's consent, drafts, and a second person approves.
    caseworker = await a.headers("unhcr", ["caseworker"], ["protection_officer"])
    focal_point = await a.headers("unhcr", ["focal_point"])
    case = adult_case_body()
    case["data"].update(
        {
            "contact": {"email": "a.h@example.org"},
            "specific_needs": {"needs_escort": True},
            "protection": PROTECTION,
        }
    )
    case_id = (await _call(a, caseworker, "POST", "/v1/cases", json=case)).json()["id"]
    consent = await _call(
        a,
        caseworker,
        "POST",
        f"/v1/cases/{case_id}/consents",
        json={
            "purposes": ["avrr-counselling"],
            "recipients": ["iom"],
            "categories": CATEGORIES,
            "given_by": "self",
            "method": "written",
            "evidence_ref": "form C1",
            "valid_until": body["valid_until"],
        },
    )
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["id"]
    draft = await _call(
        a,
        caseworker,
        "POST",
        "/v1/referrals",
        json={
            "case_id": case_id,
            "to_agency": "iom",
            "purpose": "avrr-counselling",
            "agreement_id": agreement_id,
            "consent_id": consent_id,
            "categories": CATEGORIES,
        },
    )
    assert draft.status_code == 201, draft.text
    referral_id = draft.json()["id"]
    approved = await _call(a, focal_point, "POST", f"/v1/referrals/{referral_id}/approve")
    assert approved.status_code == 200, approved.text
    await nodes.settle()
    sent = await _call(a, focal_point, "GET", f"/v1/referrals/{referral_id}")
    assert sent.json()["status"] == "sent"

    # IOM's counsellor reads identity; protection is withheld from her role.
    counsellor = await b.headers("iom", ["caseworker"], ["counsellor"])
    iom_focal_point = await b.headers("iom", ["focal_point"])
    seen = (await _call(b, counsellor, "GET", f"/v1/referrals/{referral_id}")).json()
    assert seen["data"]["identity"]["names"]["family_name"] == "Haddad"
    assert [w["category"] for w in seen["withheld"]] == ["protection"]

    # IOM accepts and completes; UNHCR sees the outcome.
    accepted = await _call(b, iom_focal_point, "POST", f"/v1/referrals/{referral_id}/accept")
    assert accepted.status_code == 200, accepted.text
    completed = await _call(
        b,
        counsellor,
        "POST",
        f"/v1/referrals/{referral_id}/complete",
        json={"outcome": "decided_to_return"},
    )
    assert completed.status_code == 200, completed.text
    await nodes.settle()
    outcome = await _call(a, focal_point, "GET", f"/v1/referrals/{referral_id}")
    assert outcome.json().get("outcome") == "decided_to_return"

    # The person withdraws consent: IOM erases, and UNHCR holds IOM's signed receipt.
    withdrawn = await _call(a, caseworker, "POST", f"/v1/consents/{consent_id}/withdraw", json={})
    assert withdrawn.status_code == 200, withdrawn.text
    await nodes.settle()
    held = (await _call(a, focal_point, "GET", f"/v1/referrals/{referral_id}")).json()
    assert held["erasure"]["receipt"] is not None, "IOM's erasure receipt"
    gone = await _call(b, counsellor, "GET", f"/v1/referrals/{referral_id}")
    assert gone.status_code == 410
    signed_receipt = env.SignedReceipt.model_validate(held["erasure"]["receipt"])
    directory = verify_directory(
        (await _call(a, {}, "GET", "/v1/directory")).json(), nodes.root.public
    )
    key = directory.member_key("iom", signed_receipt.signature.kid, at=signed_receipt.receipt.at)
    assert env.verify_receipt(signed_receipt, key).by == "iom"

    # Every node's audit chain verifies.
    for node in (a, b, c):
        assert await _audit_verify_exit(node) == 0, f"audit chain broken on {node.name}"
