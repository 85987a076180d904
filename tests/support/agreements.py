"""Agreement terms for tests: a valid baseline to vary one fault at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kit.db.base import utcnow

#: Who reads the everyday categories at a recipient: its counsellors, and the protection
#: officers who work the same cases.
READERS = ["counsellor", "protection_officer"]


def terms(parties: list[str], *, legal_basis: str = "consent", **overrides: Any) -> dict[str, Any]:
    now = utcnow().replace(microsecond=0)
    sender, *recipients = parties
    body: dict[str, Any] = {
        "title": "AVRR counselling and protection",
        "parties": parties,
        "purposes": ["avrr-counselling", "best-interests-determination"],
        # Every category names who may read it at the recipient (DESIGN §9), each of the
        # field's data roles gating at least one.
        "categories": {
            "identity": {"senders": [sender], "recipients": recipients, "data_roles": READERS},
            "contact": {"senders": [sender], "recipients": recipients, "data_roles": READERS},
            "specific_needs": {
                "senders": [sender],
                "recipients": recipients,
                "data_roles": READERS,
            },
            "protection": {
                "senders": [sender],
                "recipients": recipients,
                "data_roles": ["protection_officer", "child_protection_officer"],
            },
            "asylum_history": {
                "senders": [sender],
                "recipients": recipients,
                "data_roles": ["legal_counsel"],
            },
            "reintegration": {
                "senders": [sender],
                "recipients": recipients,
                "data_roles": ["reintegration_officer"],
            },
        },
        "legal_basis": legal_basis,
        "retention_days": 365,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=365)).isoformat(),
    }
    body.update(overrides)
    return body
