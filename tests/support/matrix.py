"""The tenancy matrix: one entry per protected route, grown by every issue that adds routes.

Each entry says which scope and role the route needs, how to build a request against a
resource of the calling agency (``own``) or of another agency (``foreign``), and what success
looks like. ``test_tenancy_matrix`` runs every entry five ways: no token, another agency's
token, a token missing the scope, a principal missing the role, and the right principal.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import FastAPI

from services.cases import service as cases_service
from services.consents import service as consents_service
from services.households import service as households_service
from tests.support.cases import (
    adult_case_body,
    consent_body,
    seed_case,
    seed_consent,
    system_principal,
)
from tests.support.identity import seed_client, seed_user

#: Builds one resource of ``agency`` and returns the path parameters that address it.
Fixture = Callable[[FastAPI, str], Awaitable[dict[str, str]]]


@dataclass(frozen=True)
class Case:
    scope: str
    role: str
    ok: int = 200
    resource: Fixture | None = None
    body: Callable[[], dict[str, Any]] | None = None
    #: For list routes: the key under which ids are listed, to check no foreign row appears.
    lists: str | None = None
    #: For creation: the response field naming the agency, to check it is the caller's.
    creates_in: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Other roles that also grant the route: the "missing role" principal holds none of them.
    also: tuple[str, ...] = ()
    #: A resource every agency may read (SOP definitions): no 404 for another agency.
    shared: bool = False
    #: For list routes: which agencies a listed item belongs to (by default its ``agency``).
    owners: Callable[[dict[str, Any]], set[str]] = lambda item: {item.get("agency")}

    def items(self, body: Any) -> list[dict[str, Any]]:
        return list(body if self.lists == "" else body[self.lists or ""])

    @property
    def roles(self) -> frozenset[str]:
        return frozenset({self.role, *self.also})


async def a_user(app: FastAPI, agency: str) -> dict[str, str]:
    user = await seed_user(
        app, agency, f"{uuid.uuid4().hex[:8]}@{agency}.example", roles=["caseworker"]
    )
    return {"user_id": user.id}


async def a_client(app: FastAPI, agency: str) -> dict[str, str]:
    system = await seed_client(app, agency)
    async with app.state.db.sessions() as session:
        from sqlalchemy import select

        from auth.models import ApiClient

        pk = (
            await session.scalars(
                select(ApiClient.id).where(ApiClient.client_id == system.client_id)
            )
        ).one()
    return {"client_pk": str(pk)}


async def an_audit_trail(app: FastAPI, agency: str) -> dict[str, str]:
    from services.audit import service as audit

    async with app.state.db.sessions.begin() as session:
        await audit.record(
            session,
            agency=agency,
            principal=None,
            action="case.created",
            subject_type="case",
            subject_id=uuid.uuid4(),
        )
    return {}


def new_user_body() -> dict[str, Any]:
    return {
        "email": f"{uuid.uuid4().hex[:8]}@example.org",
        "display_name": "New person",
        "roles": ["caseworker"],
    }


def new_client_body() -> dict[str, Any]:
    return {"name": "A system", "scopes": ["cases:read"], "roles": ["caseworker"]}


def ping_body() -> dict[str, Any]:
    return {"to_agency": "iom", "count": 1}


async def a_case(app: FastAPI, agency: str) -> dict[str, str]:
    return {"case_id": await seed_case(app, agency), "category": "skills"}


async def a_consent(app: FastAPI, agency: str) -> dict[str, str]:
    case_id = await seed_case(app, agency)
    return {"case_id": case_id, "consent_id": await seed_consent(app, agency, case_id)}


CASE_ROLES = ("focal_point",)


def agreement_body() -> dict[str, Any]:
    from tests.support.agreements import terms

    return terms(["unhcr", "ilo"])


def parties(item: dict[str, Any]) -> set[str]:
    return set(item["parties"])


async def an_agreement(app: FastAPI, agency: str) -> dict[str, str]:
    """A draft of ``agency`` with IOM (or UNHCR): parties only, so tenancy is by party."""
    from auth.principal import Principal
    from services.agreements import service
    from tests.support.agreements import terms

    other = "ilo" if agency != "ilo" else "unhcr"
    me = Principal(
        agency=agency,
        kind="client",
        subject="seed",
        client_id="seed",
        roles=frozenset({"admin"}),
        data_roles=frozenset(),
        scopes=frozenset(),
        token_id="seed",
    )
    async with app.state.db.sessions.begin() as session:
        state = await service.draft(
            session, federation=app.state.federation, principal=me, data=terms([agency, other])
        )
    return {"agreement_id": state.id}


AGREEMENT_READERS = ("focal_point", "caseworker", "auditor")

ROUTE_CASES: dict[tuple[str, str], Case] = {
    ("POST", "/v1/users"): Case(
        "users:write", "admin", ok=201, body=new_user_body, creates_in="agency"
    ),
    ("GET", "/v1/users"): Case("users:read", "admin", resource=a_user, lists="items"),
    ("GET", "/v1/users/{user_id}"): Case("users:read", "admin", resource=a_user),
    ("PATCH", "/v1/users/{user_id}"): Case(
        "users:write", "admin", resource=a_user, body=lambda: {"display_name": "Renamed"}
    ),
    ("POST", "/v1/clients"): Case(
        "clients:write", "admin", ok=201, body=new_client_body, creates_in="agency"
    ),
    ("GET", "/v1/clients"): Case("clients:read", "admin", resource=a_client, lists="items"),
    ("GET", "/v1/clients/{client_pk}"): Case("clients:read", "admin", resource=a_client),
    ("PATCH", "/v1/clients/{client_pk}"): Case(
        "clients:write", "admin", resource=a_client, body=lambda: {"name": "Renamed"}
    ),
    ("POST", "/v1/federation/pings"): Case("federation:write", "admin", ok=202, body=ping_body),
    ("POST", "/v1/federation/directory/refresh"): Case("federation:write", "admin"),
    ("GET", "/v1/federation/directory/status"): Case("federation:read", "admin"),
    ("GET", "/v1/federation/outbox"): Case("federation:read", "admin"),
    ("GET", "/v1/federation/inbox"): Case("federation:read", "admin"),
    ("GET", "/v1/federation/outbox/summary"): Case("federation:read", "admin"),
    ("GET", "/v1/federation/incidents"): Case("federation:read", "admin"),
    ("GET", "/v1/audit"): Case("audit:read", "auditor", resource=an_audit_trail, lists="items"),
    ("GET", "/v1/audit/verify"): Case("audit:read", "auditor", resource=an_audit_trail),
    ("POST", "/v1/audit/checkpoints"): Case(
        "audit:read",
        "auditor",
        ok=201,
        resource=an_audit_trail,
        creates_in="agency",
        also=("admin",),
    ),
    ("POST", "/v1/cases"): Case(
        "cases:write",
        "caseworker",
        also=CASE_ROLES,
        ok=201,
        body=adult_case_body,
        creates_in="agency",
    ),
    ("GET", "/v1/cases"): Case(
        "cases:read", "caseworker", also=CASE_ROLES, resource=a_case, lists="items"
    ),
    ("GET", "/v1/cases/{case_id}"): Case(
        "cases:read", "caseworker", also=CASE_ROLES, resource=a_case
    ),
    ("PUT", "/v1/cases/{case_id}/data/{category}"): Case(
        "cases:write",
        "caseworker",
        also=CASE_ROLES,
        resource=a_case,
        body=lambda: {"desired_occupation": "welder"},
    ),
    ("PATCH", "/v1/cases/{case_id}/profile"): Case(
        "cases:write",
        "caseworker",
        also=CASE_ROLES,
        resource=a_case,
        body=lambda: {"host_language": "good"},
    ),
    ("POST", "/v1/cases/{case_id}/consents"): Case(
        "cases:write", "caseworker", also=CASE_ROLES, ok=201, resource=a_case, body=consent_body
    ),
    ("GET", "/v1/cases/{case_id}/consents"): Case(
        "cases:read", "caseworker", also=CASE_ROLES, resource=a_consent, lists="items"
    ),
    ("GET", "/v1/consents/{consent_id}"): Case(
        "cases:read", "caseworker", also=CASE_ROLES, resource=a_consent
    ),
    ("POST", "/v1/consents/{consent_id}/withdraw"): Case(
        "cases:write", "caseworker", also=CASE_ROLES, resource=a_consent
    ),
    ("POST", "/v1/consents/{consent_id}/narrow"): Case(
        "cases:write",
        "caseworker",
        also=CASE_ROLES,
        resource=a_consent,
        body=lambda: {"recipients": ["ilo"]},
    ),
    ("POST", "/v1/agreements"): Case("agreements:write", "admin", ok=201, body=agreement_body),
    ("GET", "/v1/agreements"): Case(
        "agreements:read",
        "admin",
        also=AGREEMENT_READERS,
        resource=an_agreement,
        lists="items",
        owners=parties,
    ),
    ("GET", "/v1/agreements/{agreement_id}"): Case(
        "agreements:read", "admin", also=AGREEMENT_READERS, resource=an_agreement
    ),
    ("PUT", "/v1/agreements/{agreement_id}"): Case(
        "agreements:write", "admin", resource=an_agreement, body=agreement_body
    ),
    ("POST", "/v1/agreements/{agreement_id}/propose"): Case(
        "agreements:write", "admin", resource=an_agreement
    ),
    ("POST", "/v1/agreements/{agreement_id}/sign"): Case(
        "agreements:write",
        "admin",
        resource=an_agreement,
        ok=409,
        body=lambda: {"digest": "0" * 64},
    ),
    ("POST", "/v1/agreements/{agreement_id}/suspend"): Case(
        "agreements:write",
        "admin",
        resource=an_agreement,
        ok=409,
        body=lambda: {"reason": "test"},
    ),
    ("POST", "/v1/agreements/{agreement_id}/resume"): Case(
        "agreements:write", "admin", resource=an_agreement, ok=409
    ),
    ("POST", "/v1/agreements/{agreement_id}/terminate"): Case(
        "agreements:write", "admin", resource=an_agreement, body=lambda: {"reason": "test"}
    ),
    ("POST", "/v1/agreements/{agreement_id}/amend"): Case(
        "agreements:write", "admin", resource=an_agreement, ok=409, body=agreement_body
    ),
    ("POST", "/v1/agreements/{agreement_id}/decisions"): Case(
        "agreements:read",
        "admin",
        also=AGREEMENT_READERS,
        resource=an_agreement,
        body=lambda: {
            "recipient": "ilo",
            "purpose": "avrr-counselling",
            "categories": ["identity"],
        },
    ),
}


async def _referral(
    app: FastAPI, agency: str, *, approve: bool, withdraw: bool = False
) -> dict[str, str]:
    """An outgoing referral of ``agency`` to ILO under an agreement seeded as active."""
    from contracts import agreements as rules
    from kit.db.base import utcnow
    from services.agreements import repository as agreements
    from services.referrals import service as referrals
    from services.referrals.schemas import ReferralCreate
    from tests.support.agreements import terms
    from tests.support.cases import seed_consent
    from tests.support.referrals import case_with_everything

    now = utcnow()
    state = rules.propose(
        rules.new_draft(
            str(uuid.uuid4()),
            rules.AgreementTerms.model_validate(terms([agency, "ilo"])),
            by=agency,
            at=now,
        ),
        by=agency,
        at=now,
    ).model_copy(update={"status": rules.AgreementStatus.ACTIVE})
    drafter = system_principal(agency, roles={"caseworker"}, data_roles={"protection_officer"})
    async with app.state.db.sessions.begin() as session:
        await agreements.save(session, state)
        case = await cases_service.create(
            session, principal=drafter, master_key=app.state.master_key, body=case_with_everything()
        )
    consent = await seed_consent(
        app,
        agency,
        str(case.id),
        recipients=["ilo"],
        purposes=["avrr-counselling"],
        categories=["identity", "contact"],
    )
    async with app.state.db.sessions.begin() as session:
        row = await referrals.create(
            session,
            federation=app.state.federation,
            principal=drafter,
            data=ReferralCreate(
                case_id=case.id,
                to_agency="ilo",
                purpose="avrr-counselling",
                agreement_id=state.id,
                consent_id=uuid.UUID(consent),
                categories=["identity", "contact"],
            ),
        )
        if approve:
            approver = replace(
                system_principal(agency, roles={"focal_point"}),
                client_id=f"{agency}-approver",
                subject=f"{agency}-approver",
            )
            row = await referrals.approve(
                session,
                federation=app.state.federation,
                principal=approver,
                referral_id=row.referral_id,
            )
        if withdraw:
            await consents_service.withdraw(
                session,
                principal=drafter,
                consent_id=uuid.UUID(consent),
                master_key=app.state.master_key,
                reason=None,
                events=app.state.federation.events,
            )
    return {"referral_id": row.referral_id}


async def a_referral(app: FastAPI, agency: str) -> dict[str, str]:
    return await _referral(app, agency, approve=False)


async def an_approved_referral(app: FastAPI, agency: str) -> dict[str, str]:
    return await _referral(app, agency, approve=True)


async def a_withdrawn_referral(app: FastAPI, agency: str) -> dict[str, str]:
    return await _referral(app, agency, approve=True, withdraw=True)


WORKERS = ("focal_point",)

ROUTE_CASES.update(
    {
        ("POST", "/v1/referrals"): Case(
            "referrals:write",
            "caseworker",
            also=WORKERS,
            ok=404,
            body=lambda: {
                "case_id": str(uuid.uuid4()),
                "to_agency": "ilo",
                "purpose": "x",
                "agreement_id": "none",
                "categories": ["identity"],
            },
        ),
        ("GET", "/v1/referrals"): Case(
            "referrals:read",
            "caseworker",
            also=(*WORKERS, "auditor"),
            resource=a_referral,
            lists="items",
        ),
        ("GET", "/v1/referrals/{referral_id}"): Case(
            "referrals:read", "caseworker", also=(*WORKERS, "auditor"), resource=a_referral
        ),
        ("POST", "/v1/referrals/{referral_id}/approve"): Case(
            "referrals:approve", "focal_point", resource=a_referral
        ),
        ("POST", "/v1/referrals/{referral_id}/accept"): Case(
            "referrals:write", "focal_point", resource=a_referral, ok=409
        ),
        ("POST", "/v1/referrals/{referral_id}/decline"): Case(
            "referrals:write",
            "focal_point",
            resource=a_referral,
            ok=409,
            body=lambda: {"reason": "no capacity"},
        ),
        ("POST", "/v1/referrals/{referral_id}/complete"): Case(
            "referrals:write",
            "caseworker",
            also=WORKERS,
            resource=a_referral,
            ok=409,
            body=lambda: {"outcome": "done"},
        ),
        ("POST", "/v1/referrals/{referral_id}/cancel"): Case(
            "referrals:write", "caseworker", also=WORKERS, resource=a_referral
        ),
        ("POST", "/v1/referrals/{referral_id}/break-glass"): Case(
            "referrals:write",
            "focal_point",
            resource=a_referral,
            ok=409,
            body=lambda: {"category": "protection", "reason": "a reason long enough"},
        ),
        ("GET", "/v1/referrals/{referral_id}/evidence"): Case(
            "referrals:read",
            "caseworker",
            also=(*WORKERS, "auditor"),
            resource=an_approved_referral,
        ),
        ("GET", "/v1/erasures"): Case(
            "referrals:read",
            "admin",
            also=("auditor",),
            lists="items",
            resource=a_withdrawn_referral,
        ),
    }
)


async def a_programme(app: FastAPI, agency: str) -> dict[str, str]:
    from services.demo.scenarios import BINDINGS
    from services.programmes.models import Programme

    async with app.state.db.sessions.begin() as session:
        programme = Programme(
            agency=agency,
            title="Matrix",
            sop_id="avrr-joint",
            sop_version="2.1.0",
            bindings=BINDINGS,
            agreements=[],
            params={},
        )
        session.add(programme)
        await session.flush()
    return {"programme_id": str(programme.id)}


async def a_journey(app: FastAPI, agency: str) -> dict[str, str]:
    from kit.db.base import utcnow
    from services.journeys.models import Journey
    from services.sops.catalogue import parse, shipped_sources
    from sop import engine

    programme_id = (await a_programme(app, agency))["programme_id"]
    case_id = await seed_case(app, agency)
    definition = parse(shipped_sources()["avrr-joint@2.1.0"])
    state = engine.start(definition, {}, {}, utcnow())
    async with app.state.db.sessions.begin() as session:
        journey = Journey(
            agency=agency,
            case_id=uuid.UUID(case_id),
            programme_id=uuid.UUID(programme_id),
            stage=state.stage,
            state=state.model_dump(mode="json"),
            due_at=state.due_at,
        )
        session.add(journey)
        await session.flush()
    return {"journey_id": str(journey.id)}


ANY_ROLE = ("admin", "focal_point", "caseworker", "auditor")

ROUTE_CASES.update(
    {
        ("GET", "/v1/sops"): Case("cases:read", "admin", also=ANY_ROLE),
        ("POST", "/v1/sops"): Case(
            "programmes:write", "admin", ok=422, body=lambda: {"source": "id: broken"}
        ),
        ("GET", "/v1/sops/{ref}/graph"): Case(
            "cases:read",
            "admin",
            also=ANY_ROLE,
            shared=True,
            resource=lambda _app, _agency: _shipped(),
        ),
        ("POST", "/v1/programmes"): Case(
            "programmes:write",
            "admin",
            ok=422,
            body=lambda: {"title": "x", "sop": "avrr-joint@2.1.0", "bindings": {}},
        ),
        ("GET", "/v1/programmes"): Case(
            "agreements:read",
            "admin",
            also=ANY_ROLE,
            resource=a_programme,
            lists="items",
        ),
        ("GET", "/v1/programmes/{programme_id}"): Case(
            "agreements:read",
            "admin",
            also=ANY_ROLE,
            resource=a_programme,
        ),
        ("GET", "/v1/programmes/{programme_id}/check"): Case(
            "agreements:read",
            "admin",
            also=ANY_ROLE,
            resource=a_programme,
        ),
        ("POST", "/v1/cases/{case_id}/journeys"): Case(
            "cases:write",
            "caseworker",
            also=("focal_point",),
            resource=a_case,
            ok=404,
            body=lambda: {"programme_id": str(uuid.uuid4())},
        ),
        ("GET", "/v1/journeys"): Case(
            "cases:read",
            "caseworker",
            also=("focal_point", "auditor"),
            resource=a_journey,
            lists="items",
        ),
        ("GET", "/v1/journeys/{journey_id}"): Case(
            "cases:read",
            "caseworker",
            also=("focal_point", "auditor"),
            resource=a_journey,
        ),
        ("POST", "/v1/journeys/{journey_id}/outcomes"): Case(
            "cases:write",
            "caseworker",
            also=("focal_point",),
            resource=a_journey,
            ok=409,
            body=lambda: {"stage": "profiling", "outcome": "profiled"},
        ),
        ("POST", "/v1/journeys/{journey_id}/referral"): Case(
            "cases:write",
            "caseworker",
            also=("focal_point",),
            resource=a_journey,
        ),
        # A fresh journey waits for its acting agency: nothing to re-route, hence 409 to
        # whoever may ask; the point here is who may ask at all.
        ("POST", "/v1/journeys/{journey_id}/reroute"): Case(
            "cases:write",
            "caseworker",
            ok=409,
            also=("focal_point",),
            resource=a_journey,
        ),
    }
)


async def _shipped() -> dict[str, str]:
    return {"ref": "avrr-joint@2.1.0"}


async def a_household(app: FastAPI, agency: str) -> dict[str, str]:
    """A mother, her daughter and the daughter's brother; ``case_id`` is the brother's, who
    may leave without leaving a relationship unmatched."""
    members = [
        {"case_id": await seed_case(app, agency), "relationship": "parent"},
        {"case_id": await seed_case(app, agency), "relationship": "child"},
        {"case_id": await seed_case(app, agency), "relationship": "sibling"},
    ]
    async with app.state.db.sessions.begin() as session:
        view = await households_service.create(
            session, principal=system_principal(agency), body={"members": members}
        )
    return {"household_id": str(view.household.id), "case_id": members[2]["case_id"]}


def _unknown_member() -> dict[str, Any]:
    return {"case_id": str(uuid.uuid4()), "relationship": "sibling"}


ROUTE_CASES.update(
    {
        # Another agency's cases are unknown: a household of them is refused, never made.
        ("POST", "/v1/households"): Case(
            "cases:write",
            "caseworker",
            also=("focal_point",),
            ok=422,
            body=lambda: {"members": [_unknown_member(), _unknown_member()]},
        ),
        ("GET", "/v1/households/{household_id}"): Case(
            "cases:read", "caseworker", also=("focal_point", "auditor"), resource=a_household
        ),
        ("POST", "/v1/households/{household_id}/members"): Case(
            "cases:write",
            "caseworker",
            also=("focal_point",),
            resource=a_household,
            ok=422,
            body=_unknown_member,
        ),
        ("DELETE", "/v1/households/{household_id}/members/{case_id}"): Case(
            "cases:write", "caseworker", also=("focal_point",), resource=a_household
        ),
    }
)


async def an_event(app: FastAPI, agency: str) -> dict[str, str]:
    """An event of ``agency``'s, old enough for the feed to serve (its settle window)."""
    import random
    from datetime import timedelta

    from kit.db.base import utcnow
    from services.events import repository as event_rows
    from services.events.models import Event

    past = utcnow() - timedelta(minutes=1)
    async with app.state.db.sessions.begin() as session:
        await event_rows.add(
            session,
            Event(
                id=uuid.UUID(
                    int=event_rows.id_floor(past).int + (7 << 76) + random.getrandbits(60)
                ),
                agency=agency,
                type="consent.given",
                timestamp=past,
                data={"consent_id": f"{agency}.{uuid.uuid4().hex}", "status": "given"},
            ),
        )
    return {}


async def a_webhook(app: FastAPI, agency: str) -> dict[str, str]:
    from services.webhooks import service as webhooks

    async with app.state.db.sessions.begin() as session:
        webhook, _ = await webhooks.create(
            session,
            principal=system_principal(agency, roles={"admin"}),
            master_key=app.state.master_key,
            url=f"https://hooks.{agency}.example/in",
            event_types=["referral.sent"],
            dev=False,
        )
    return {"webhook_id": str(webhook.id)}


async def a_failed_delivery(app: FastAPI, agency: str) -> dict[str, str]:
    from kit.db.base import utcnow
    from services.webhooks.models import WebhookDelivery

    made = await a_webhook(app, agency)
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        webhook_id=uuid.UUID(made["webhook_id"]),
        agency=agency,
        event_id=uuid.uuid4(),
        event_type="referral.sent",
        status="failed",
        attempts=3,
        retry_until=utcnow(),
        last_error="http_503",
    )
    async with app.state.db.sessions.begin() as session:
        session.add(delivery)
    return {**made, "delivery_id": str(delivery.id)}


def _webhook_body() -> dict[str, Any]:
    return {"url": "https://hooks.example.org/in", "event_types": ["referral.sent"]}


ROUTE_CASES.update(
    {
        ("GET", "/v1/events"): Case(
            "events:read",
            "admin",
            also=("auditor",),
            resource=an_event,
            lists="items",
            # Events carry no agency: the one made here names it in its consent id.
            owners=lambda item: {item["data"]["consent_id"].split(".")[0]},
        ),
        ("POST", "/v1/webhooks"): Case(
            "webhooks:write", "admin", ok=201, body=_webhook_body, creates_in="agency"
        ),
        ("GET", "/v1/webhooks"): Case("webhooks:read", "admin", resource=a_webhook, lists="items"),
        ("DELETE", "/v1/webhooks/{webhook_id}"): Case(
            "webhooks:write", "admin", ok=204, resource=a_webhook
        ),
        ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): Case(
            "webhooks:write", "admin", resource=a_webhook
        ),
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"): Case(
            "webhooks:read", "admin", resource=a_webhook
        ),
        ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): Case(
            "webhooks:write", "admin", resource=a_failed_delivery
        ),
    }
)
