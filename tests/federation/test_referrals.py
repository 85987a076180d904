"""Issue 6 end to end on three nodes: UNHCR refers a person to IOM for counselling; IOM's
counsellor reads what her role allows; IOM completes; the person withdraws consent and IOM's
copy is erased, with IOM's signed erasure receipt held at UNHCR; every audit chain verifies."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from contracts import envelope as env
from contracts.directory import verify_directory
from tests.support.agreements import terms
from tests.support.cases import PROTECTION, adult_case_body
from tests.support.cluster import Cluster, new_client, wait_until

CATEGORIES = ["identity", "contact", "specific_needs", "protection"]


def _call(node, headers, method, path, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{node.url}{path}", headers=headers, timeout=30, **kwargs)


def test_refer_read_complete_withdraw_erase_on_three_nodes(cluster: Cluster) -> None:
    a = cluster.add_node("a", ["unhcr"])
    b = cluster.add_node("b", ["iom", "ilo"])
    c = cluster.add_node("c", ["gov-de"])
    cluster.publish()
    cluster.start()
    nodes = {"unhcr": a, "iom": b, "gov-de": c}

    # The agreement, signed by all three parties at their own nodes.
    body = terms(["unhcr", "iom", "gov-de"])
    with a.api("unhcr") as api:
        agreement_id = api.post("/v1/agreements", json=body).json()["id"]
        digest = api.post(f"/v1/agreements/{agreement_id}/propose").json()["digest"]
    for agency, node in nodes.items():
        wait_until(
            lambda n=node, g=agency: (
                n.api(g).get(f"/v1/agreements/{agreement_id}").status_code == 200
            ),
            what=f"proposal at {agency}",
        )
        with node.api(agency) as api:
            assert (
                api.post(f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}).status_code
                == 200
            )
    wait_until(
        lambda: all(
            n.api(g).get(f"/v1/agreements/{agreement_id}").json()["status"] == "active"
            for g, n in nodes.items()
        ),
        what="agreement active",
    )

    # UNHCR records the case and the person's consent, drafts, and a second person approves.
    caseworker = new_client(a, "unhcr", roles=["caseworker"], data_roles=["protection_officer"])
    focal_point = new_client(a, "unhcr", roles=["focal_point"])
    case = adult_case_body()
    case["data"].update(
        {
            "contact": {"email": "a.h@example.org"},
            "specific_needs": {"trafficking_victim": True},
            "protection": PROTECTION,
        }
    )
    case_id = _call(a, caseworker, "POST", "/v1/cases", json=case).json()["id"]
    consent = _call(
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
    draft = _call(
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
    assert _call(a, focal_point, "POST", f"/v1/referrals/{referral_id}/approve").status_code == 200
    wait_until(
        lambda: (
            _call(a, focal_point, "GET", f"/v1/referrals/{referral_id}").json()["status"] == "sent"
        ),
        what="the referral sent",
    )

    # IOM's counsellor reads identity; protection is withheld from her role.
    counsellor = new_client(b, "iom", roles=["caseworker"], data_roles=["counsellor"])
    iom_focal_point = new_client(b, "iom", roles=["focal_point"])
    seen = _call(b, counsellor, "GET", f"/v1/referrals/{referral_id}").json()
    assert seen["data"]["identity"]["names"]["family_name"] == "Haddad"
    assert [w["category"] for w in seen["withheld"]] == ["protection"]

    # IOM accepts and completes; UNHCR sees the outcome.
    assert (
        _call(b, iom_focal_point, "POST", f"/v1/referrals/{referral_id}/accept").status_code == 200
    )
    completed = _call(
        b,
        counsellor,
        "POST",
        f"/v1/referrals/{referral_id}/complete",
        json={"outcome": "decided_to_return"},
    )
    assert completed.status_code == 200, completed.text
    wait_until(
        lambda: (
            _call(a, focal_point, "GET", f"/v1/referrals/{referral_id}").json().get("outcome")
            == "decided_to_return"
        ),
        what="the outcome at UNHCR",
    )

    # The person withdraws consent: IOM erases, and UNHCR holds IOM's signed receipt.
    assert (
        _call(a, caseworker, "POST", f"/v1/consents/{consent_id}/withdraw", json={}).status_code
        == 200
    )
    wait_until(
        lambda: (
            _call(a, focal_point, "GET", f"/v1/referrals/{referral_id}").json()["erasure"][
                "receipt"
            ]
            is not None
        ),
        what="IOM's erasure receipt",
    )
    gone = _call(b, counsellor, "GET", f"/v1/referrals/{referral_id}")
    assert gone.status_code == 410
    held = _call(a, focal_point, "GET", f"/v1/referrals/{referral_id}").json()
    signed = env.SignedReceipt.model_validate(held["erasure"]["receipt"])
    directory = verify_directory(_call(a, {}, "GET", "/v1/directory").json(), cluster.root.public)
    key = directory.member_key("iom", signed.signature.kid, at=signed.receipt.at)
    assert env.verify_receipt(signed, key).by == "iom"

    # Every node's audit chain verifies.
    for node in (a, b, c):
        accord_verify = accord_exit(node)
        assert accord_verify == 0, f"audit chain broken on {node.name}"


def accord_exit(node) -> int:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "audit", "verify"],
        env={**os.environ, **node.process.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode
