"""A referral worth measuring, set up through the public API only (as ``accord demo`` does):
API clients with the roles each step needs, an agreement drafted at the sender and signed by
both agencies, a case with identity, contact, specific needs and protection data, and the
person's consent to share three of them with the recipient.

The bodies are the test suite's (``tests.support``): the benchmark sends what the tests check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text

from auth.scopes import ALL_SCOPES
from kit.db.engine import make_sync_engine
from services.demo.scenarios import PEOPLE_DATA_ROLES
from tests.support.agreements import terms
from tests.support.cases import consent_body
from tests.support.cluster import Node
from tests.support.referrals import CATEGORIES, case_with_everything


def ok(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:400]}"
        )
    return response.json()


def until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float = 60.0,
    why: Callable[[], str] | None = None,
) -> None:
    """Poll ``check`` until it holds; past ``timeout``, fail saying what was awaited and, if
    given, ``why()``: what the nodes' own records say (a benchmark that fails must say why)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            reason = f"; {why()}" if why else ""
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}{reason}")
        time.sleep(0.1)


def delivery_state(sender: Node, referral_id: str | None = None) -> str:
    """The sender's outbox as it stands: each channel (backoff, lease, last error) and the
    messages still pending or not delivered, with the referral's own messages; then the tail
    of each node's log."""
    engine = make_sync_engine(sender.database_url)
    lines = []
    try:
        with engine.connect() as connection:
            for row in connection.execute(
                text(
                    "SELECT sender, recipient, failures, next_attempt_at, leased_until, "
                    "lease_owner, last_error FROM outbox_channels"
                )
            ):
                lines.append(f"channel {tuple(row)}")
            for row in connection.execute(
                text(
                    "SELECT type, status, attempts, created_at, delivered_at, last_error "
                    "FROM outbox_messages WHERE status <> 'delivered' OR referral_id = :rid "
                    "ORDER BY position DESC LIMIT 10"
                ),
                {"rid": referral_id},
            ):
                lines.append(f"message {tuple(row)}")
    except Exception as exc:  # a diagnosis must not hide the failure it explains
        lines.append(f"(outbox unreadable: {exc!r})")
    finally:
        engine.dispose()
    return "; ".join(lines) + f"; {sender.name} log: {sender.process.log_tail(8)}"


@dataclass(frozen=True)
class System:
    """An API client of one agency; a fresh token each time one is asked for (they last
    ``ACCORD_ACCESS_TOKEN_TTL_SECONDS``, 10 minutes by default: longer than any scenario)."""

    url: str
    client_id: str
    client_secret: str

    def headers(self) -> dict[str, str]:
        response = httpx.post(
            f"{self.url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
            timeout=30,
        )
        return {"Authorization": f"Bearer {ok(response)['access_token']}"}


def system(node: Node, agency: str, roles: list[str], data_roles: list[str]) -> System:
    with node.api(agency) as admin:
        created = ok(
            admin.post(
                "/v1/clients",
                json={
                    "name": f"bench {agency} {' '.join(roles)}",
                    "scopes": sorted(ALL_SCOPES),
                    "roles": roles,
                    "data_roles": data_roles,
                },
            )
        )
    return System(node.url, created["client_id"], created["client_secret"])


@dataclass
class Exchange:
    """UNHCR (at ``sender``) refers a case to IOM (at ``recipient``; may be the same node)."""

    sender: Node
    recipient: Node
    drafter: System
    approver: System
    reader: System
    agreement_id: str
    case_id: str
    consent_id: str
    sent: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "to_agency": "iom",
            "purpose": "avrr-counselling",
            "agreement_id": self.agreement_id,
            "consent_id": self.consent_id,
            "categories": CATEGORIES,
            "note": "Speaks Serbian; prefers a woman counsellor.",
        }

    def send(self, count: int) -> list[str]:
        """Draft and approve ``count`` referrals; wait until IOM can read each one."""
        drafter, approver = self.drafter.headers(), self.approver.headers()
        ids = []
        with httpx.Client(base_url=self.sender.url, timeout=30) as http:
            for _ in range(count):
                draft = ok(http.post("/v1/referrals", json=self.body(), headers=drafter))
                ok(http.post(f"/v1/referrals/{draft['id']}/approve", headers=approver))
                ids.append(str(draft["id"]))
        reader = self.reader.headers()
        with httpx.Client(base_url=self.recipient.url, timeout=30) as http:
            for referral_id in ids:
                until(
                    lambda rid=referral_id: (
                        http.get(  # type: ignore[misc]
                            f"/v1/referrals/{rid}", headers=reader
                        ).status_code
                        == 200
                    ),
                    what=f"referral {referral_id} at iom",
                    why=lambda rid=referral_id: delivery_state(self.sender, rid),  # type: ignore[misc]
                )
        self.sent += ids
        return ids

    def opened(self, referral_id: str) -> list[str]:
        """The categories IOM's reader sees opened in ``GET /v1/referrals/{id}``."""
        with httpx.Client(base_url=self.recipient.url, timeout=30) as http:
            read = ok(http.get(f"/v1/referrals/{referral_id}", headers=self.reader.headers()))
        return sorted(name for name, value in (read.get("data") or {}).items() if value)


def exchange(sender: Node, recipient: Node) -> Exchange:
    drafter = system(sender, "unhcr", ["caseworker"], PEOPLE_DATA_ROLES)
    approver = system(sender, "unhcr", ["focal_point"], PEOPLE_DATA_ROLES)
    # Reads identity, contact and specific needs: the agreement opens them to counsellors.
    reader = system(recipient, "iom", ["caseworker"], ["counsellor", "protection_officer"])

    with sender.api("unhcr") as unhcr, recipient.api("iom") as iom:
        drafted = ok(unhcr.post("/v1/agreements", json=terms(["unhcr", "iom"])))
        agreement_id = str(drafted["id"])
        digest = ok(unhcr.post(f"/v1/agreements/{agreement_id}/propose"))["digest"]
        until(
            lambda: iom.get(f"/v1/agreements/{agreement_id}").status_code == 200,
            what="the proposal at iom",
            why=lambda: delivery_state(sender),
        )
        for admin in (unhcr, iom):
            ok(admin.post(f"/v1/agreements/{agreement_id}/sign", json={"digest": digest}))
        # Active at both ends: each becomes so when the other's signature reaches it, so a
        # wait that times out shows the other node's outbox.
        for admin, node, other in ((unhcr, sender, recipient), (iom, recipient, sender)):
            until(
                lambda admin=admin: (  # type: ignore[misc]
                    admin.get(f"/v1/agreements/{agreement_id}").json().get("status") == "active"
                ),
                what=f"the agreement to be active at {node.name}",
                why=lambda node=node, other=other: (  # type: ignore[misc]
                    f"{delivery_state(other)}; {node.name} log: {node.process.log_tail(8)}"
                ),
            )

    with httpx.Client(base_url=sender.url, headers=drafter.headers(), timeout=30) as worker:
        case_id = str(ok(worker.post("/v1/cases", json=case_with_everything()))["id"])
        consent = consent_body(
            recipients=["iom"], purposes=["avrr-counselling"], categories=[*CATEGORIES]
        )
        consent_id = str(ok(worker.post(f"/v1/cases/{case_id}/consents", json=consent))["id"])
    return Exchange(
        sender=sender,
        recipient=recipient,
        drafter=drafter,
        approver=approver,
        reader=reader,
        agreement_id=agreement_id,
        case_id=case_id,
        consent_id=consent_id,
    )
