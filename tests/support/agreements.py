"""Agreement terms for tests: a valid baseline to vary one fault at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kit.db.base import utcnow


def terms(parties: list[str], *, legal_basis: str = "consent", **overrides: Any) -> dict[str, Any]:
    now = utcnow().replace(microsecond=0)
    sender, *recipients = parties
    body: dict[str, Any] = {
        "title": "AVRR counselling and protection",
        "parties": parties,
        "purposes": ["avrr-counselling", "best-interests-determination"],
        "categories": {
            "identity": {"senders": [sender], "recipients": recipients},
            "contact": {"senders": [sender], "recipients": recipients},
            "specific_needs": {"senders": [sender], "recipients": recipients},
            "protection": {
                "senders": [sender],
                "recipients": recipients,
                "data_roles": ["protection_officer"],
            },
        },
        "legal_basis": legal_basis,
        "retention_days": 365,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=365)).isoformat(),
    }
    body.update(overrides)
    return body
