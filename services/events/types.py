"""Every event type the log holds, and which ``data`` keys each kind carries (DESIGN §10).

One list, read by :func:`services.events.service.append` (an unknown type fails its
transaction), by ``POST /v1/webhooks`` (a subscription names types from it), by
``GET /v1/events?types=`` and by the OpenAPI document's ``webhooks`` section. A new
``announce(...)`` of a new kind or verb adds it here; ``tests/services/events/test_types.py``
reads the code that appends and fails on any type missing from this list.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from contracts.referrals import ReferralStatus

from .schemas import EventData

#: ``referral.<status>``: the status the agency's copy entered (``services.referrals.service
#: .announce``); every status is one a copy can enter.
REFERRAL = tuple(f"referral.{status.value}" for status in ReferralStatus)
#: ``services.referrals.erasure.announce``.
ERASURE = ("erasure.requested", "erasure.confirmed", "erasure.erased", "erasure.overdue")
#: ``services.consents.service.announce``.
CONSENT = ("consent.given", "consent.superseded", "consent.withdrawn", "consent.narrowed")
#: ``services.agreements.service.announce``.
AGREEMENT = tuple(
    f"agreement.{what}"
    for what in (
        "drafted",
        "revised",
        "amended",
        "proposed",
        "signed",
        "activated",
        "suspended",
        "resumed",
        "terminated",
        "superseded",
    )
)
#: ``services.journeys.service.announce``.
JOURNEY = tuple(
    f"journey.{what}"
    for what in (
        "started",
        "advanced",
        "diverted",
        "redrafted",
        "rerouted",
        "overdue",
        "needs_attention",
        "ended",
    )
)

EVENT_TYPES: tuple[str, ...] = (*REFERRAL, *ERASURE, *CONSENT, *AGREEMENT, *JOURNEY)
KNOWN: frozenset[str] = frozenset(EVENT_TYPES)

#: The ``data`` keys each kind of event carries (a subset of ``EventData``), read from the
#: ``announce`` that appends it; absent values are left out, so every key is optional.
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "referral": (
        "referral_id",
        "case_id",
        "journey_id",
        "stage",
        "direction",
        "counterpart",
        "agreement_id",
        "consent_id",
        "from_status",
        "status",
        "reason",
    ),
    "erasure": (
        "referral_id",
        "case_id",
        "direction",
        "counterpart",
        "agreement_id",
        "reason",
        "due_at",
    ),
    "consent": ("consent_id", "case_id", "status", "from_status", "superseded_by"),
    "agreement": ("agreement_id", "version", "status", "by", "from_status"),
    "journey": (
        "journey_id",
        "case_id",
        "programme_id",
        "stage",
        "acting_agency",
        "referral_id",
        "from_stage",
        "outcome",
        "by",
        "reasons",
        "due_at",
    ),
}


def kind_of(event_type: str) -> str:
    return event_type.split(".", 1)[0]


def _data_model(kind: str) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (EventData.model_fields[name].annotation, EventData.model_fields[name])
        for name in KIND_KEYS[kind]
    }
    return create_model(
        f"{kind.capitalize()}EventData",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=f"The `data` of a `{kind}.*` event: ids, statuses and codes only.",
        **fields,
    )


#: Per kind, the model of its ``data`` (documentation, and what tests check events against).
DATA_MODELS: dict[str, type[BaseModel]] = {kind: _data_model(kind) for kind in KIND_KEYS}
