"""People walking the joint SOP, driven through the public HTTP API only, as agency systems
drive it: with the Python client (``accord_client``), each system holding its own OAuth client
credentials. The scenarios of the SOP issue, used by ``accord demo`` and by the tests.

Each person is a case at the owning agency (UNHCR) with a profile and a script: for each
stage the journey reaches, the outcome its acting agency records. Where another agency acts,
the journey drafts a referral; a focal point of UNHCR approves it, a focal point of the acting
agency accepts it, and its worker completes it with the stage's outcome, which advances the
journey at UNHCR.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from accord_client import AccordClient, AccordProblem, NotFound
from contracts.categories import CATEGORY_NAMES
from contracts.data_roles import SUGGESTED_DATA_ROLES, FieldDataRole
from sop.bindings import agencies_of

OWNER = "unhcr"
JOINT_SOP = "avrr-joint@2.1.0"
ENFORCEMENT_SOP = "enforcement@1.0.0"
#: The state each government of the demo federation acts for (its directory ``country``).
COUNTRIES = {"gov-de": "DEU", "gov-xk": "XKX", "gov-rs": "SRB"}
#: Where each demo agency works, for the times its console shows: the host country is Germany;
#: Kosovo and Serbia keep Belgrade's time. An agency not named keeps UTC.
TIME_ZONES = {
    **dict.fromkeys(("unhcr", "iom", "ilo", "caritas", "gov-de", "hardship-be"), "Europe/Berlin"),
    **dict.fromkeys(("gov-xk", "gov-rs"), "Europe/Belgrade"),
}
#: Who acts for each SOP role in the demo federation (DESIGN §1's agencies).
BINDINGS: dict[str, Any] = {
    "host_authority": "gov-de",
    "protection": "unhcr",
    # IOM counsels; Caritas takes the case when IOM cannot (an alternate, DESIGN §7).
    "return_agency": ["iom", "caritas"],
    "reception_agency": "iom",
    "labour": "ilo",
    # Travel documents are the state of nationality's to issue (DESIGN §7, §9).
    "origin_authority": {"SRB": "gov-rs", "XKX": "gov-xk"},
    # Regional authorities, churches and civil society, not the host authority (DESIGN §1).
    "hardship_commission": "hardship-be",
    "interior_ministry": "gov-de",
}
PURPOSES = [
    "case-profiling",
    "avrr-counselling",
    "avrr-departure",
    "avrr-reception",
    "reintegration-assistance",
    "reintegration-employment",
    "legal-migration",
    "regularization",
    "hardship-review",
    "travel-documents",
    "readmission",
    "return-enforcement",
    "forced-return-monitoring",
    "forced-return",
    "best-interests-determination",
    "trafficking-risk-assessment",
    "protection-needs-analysis",
    "statelessness-documentation",
    "post-return-monitoring",
]
#: Every agency the programme binds, each once.
BOUND = sorted({agency for binding in BINDINGS.values() for agency in agencies_of(binding)})
#: Who reads each category at a recipient (DESIGN §9: every category names its data roles).
DATA_ROLES = {
    category.value: [r.value for r in roles] for category, roles in SUGGESTED_DATA_ROLES.items()
}
#: The demo's people work every part of a case, except biometrics, which no demo person reads:
#: the most restricted category opens only to a role nobody here holds.
PEOPLE_DATA_ROLES = [r.value for r in FieldDataRole if r is not FieldDataRole.BIOMETRICS_OFFICER]


#: The host authority's own programme: forced return under legal obligation (DESIGN §9), the
#: state of nationality asked to readmit, UNHCR as the independent monitor (as at Pristina).
ENFORCEMENT_BINDINGS: dict[str, Any] = {
    "host_authority": "gov-de",
    "origin_authority": {"SRB": "gov-rs", "XKX": "gov-xk"},
    "monitor": "unhcr",
}
ENFORCEMENT_PURPOSES = [
    "return-enforcement",
    "readmission",
    "forced-return-monitoring",
    "forced-return",
    "post-removal-monitoring",
    "protection-referral",
]


def enforcement_terms(valid_from: str, valid_until: str) -> dict[str, Any]:
    """What the host authority may send for a forced return: identity and documents to the
    state of nationality, identity and the return plan to the monitor, nothing else."""
    host = ENFORCEMENT_BINDINGS["host_authority"]
    states = sorted(set(ENFORCEMENT_BINDINGS["origin_authority"].values()))
    monitor = ENFORCEMENT_BINDINGS["monitor"]
    sent = {"identity": [*states, monitor], "documents": states, "return_plan": [monitor]}
    return {
        "title": "Enforcement of return orders, monitored",
        "parties": [host, *sorted({*states, monitor})],
        "purposes": ENFORCEMENT_PURPOSES,
        "categories": {
            category: {
                "senders": [host],
                "recipients": sorted(recipients),
                "data_roles": DATA_ROLES[category],
            }
            for category, recipients in sent.items()
        },
        "legal_basis": "legal_obligation",
        "retention_days": 730,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "encryption": "hpke-x25519",
    }


def agreement_terms(valid_from: str, valid_until: str) -> dict[str, Any]:
    """One multilateral agreement: UNHCR may send each partner what the SOP's stages need."""
    partners = sorted(set(BOUND) - {OWNER})
    return {
        "title": "Joint AVRR and solutions programme for non-refugees",
        "parties": [OWNER, *partners],
        "purposes": PURPOSES,
        "categories": {
            category: {
                "senders": [OWNER],
                "recipients": partners,
                "data_roles": DATA_ROLES[category],
            }
            for category in sorted(CATEGORY_NAMES)
        },
        "legal_basis": "consent",
        "retention_days": 730,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "encryption": "hpke-x25519",
    }


@dataclass
class Step:
    stage: str
    outcome: str
    facts: dict[str, Any] = field(default_factory=dict)
    #: The written decision's reference, where the stage's outcome is one (BID, risk assessment).
    decision_ref: str | None = None
    #: A fact turns up late at this stage: the owner patches the profile and the journey is
    #: diverted to the safeguard it requires (no outcome is recorded here).
    patch: dict[str, Any] | None = None
    #: The acting agency declines first; the owner re-routes the stage to the alternate the
    #: programme binds, which then records the outcome.
    declined_first: bool = False

    def decision(self) -> dict[str, str]:
        return {"decision_ref": self.decision_ref} if self.decision_ref else {}


@dataclass
class Person:
    name: str
    pathway: str
    profile: dict[str, Any]
    data: dict[str, Any]
    script: list[Step]
    expected_end_stage: str
    #: Withdraw consent on reaching this stage (AVRR principle ii), after its referral is out.
    withdraw_at: str | None = None
    #: The agency whose case this is, and the programme it walks (``joint`` or ``enforcement``).
    owner: str = OWNER
    programme: str = "joint"


def _adult(**facts: Any) -> dict[str, Any]:
    return {
        "date_of_birth": "1988-04-12",
        "is_child": False,
        "unaccompanied": False,
        "separated": False,
        "trafficking_victim": False,
        "stateless": False,
        "serious_illness": False,
        "years_in_host_country": 2.0,
        "proof_of_work": False,
        "social_contributions": False,
        "clean_criminal_record": True,
        "nationality": "SRB",
        "host_language": "basic",
        "children_in_school": False,
        "regional_free_movement": None,
        "skills_match": False,
        "needs_escort": False,
        **facts,
    }


def _data(
    given: str,
    surname: str,
    nationality: str | None = "SRB",
    *,
    identity: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A person's case data, agreeing with their profile: the same nationality, the trafficking
    flag only in ``protection``, a child's guardian in ``family``."""
    return {
        "identity": {
            "names": {"given_names": given, "family_name": surname},
            **({"nationality": nationality} if nationality else {}),
            **(identity or {}),
        },
        "contact": {"email": f"{given.lower()}@example.org", "safe_to_contact": True},
        # Practical needs only: protection-sensitive facts are protection data (DESIGN §9).
        "specific_needs": {"needs_escort": False},
        "asylum_history": {},
        "documents": {},
        "return_plan": {},
        "skills": {},
        "reintegration": {},
        "family": {},
        "health": {},
        **extra,
    }


def _guardian(organisation: str) -> dict[str, Any]:
    return {
        "guardian": {
            "name": "Appointed guardian",
            "organisation": organisation,
            "appointed_on": "2026-10-02",
        }
    }


MONITORED = {"willing_to_remain": True, "social_and_economic_participation": True}

RETURN_PATH = [
    Step("profiling", "profiled"),
    Step("counselling", "decided_to_return"),
    Step("travel_documents", "issued"),
    Step("departure", "departed"),
    Step("reception", "received"),
    Step("reintegration", "employment_support_needed"),
    Step("employment_and_skills", "support_delivered"),
    Step("post_return_monitoring", "monitored", MONITORED),
]

PEOPLE = [
    Person(
        "Amina H.",
        "assisted voluntary return",
        _adult(),
        _data("Amina", "Haddad"),
        RETURN_PATH,
        "closed",
    ),
    Person(
        "Luan K. (unaccompanied, 15)",
        "best-interests determination then return",
        _adult(date_of_birth="2011-03-14", is_child=True, unaccompanied=True, nationality="XKX"),
        _data("Luan", "Krasniqi", nationality="XKX", family=_guardian("Jugendamt Berlin")),
        [
            Step("profiling", "profiled"),
            Step("bid", "return_in_best_interests", decision_ref="BID-2026-014"),
            Step("counselling", "decided_to_return"),
            Step("travel_documents", "issued"),
            Step("escorted_departure", "departed"),
            Step("reception", "received"),
        ],
        "reintegration",
    ),
    Person(
        "Mira T. (trafficked)",
        "trafficking risk assessment, then protection",
        _adult(trafficking_victim=True),
        _data("Mira", "Todorova", protection={"trafficking_victim": True}),
        [
            Step("profiling", "profiled"),
            Step("trafficking_risk_assessment", "low_risk", decision_ref="TRA-2026-031"),
            Step("protection_needs_analysis", "protection_needed"),
        ],
        "protection_referral",
    ),
    Person(
        "Elena V. (trafficked, low risk)",
        "risk assessment, escorted return and monitoring",
        _adult(trafficking_victim=True),
        _data("Elena", "Vasic", protection={"trafficking_victim": True}),
        [
            Step("profiling", "profiled"),
            Step("trafficking_risk_assessment", "low_risk", decision_ref="TRA-2026-052"),
            Step("protection_needs_analysis", "no_protection_needs"),
            Step("counselling", "decided_to_return"),
            Step("travel_documents", "issued"),
            Step("escorted_departure", "departed"),
            Step("reception", "received"),
            Step("reintegration", "assistance_delivered"),
            Step("post_return_monitoring", "monitored", MONITORED),
        ],
        "closed",
    ),
    Person(
        "Dren B. (stateless)",
        "statelessness documentation",
        _adult(stateless=True, nationality=None),
        _data("Dren", "Berisha", None, identity={"nationality_status": "stateless"}),
        [
            Step("profiling", "profiled"),
            Step("statelessness_documentation", "nationality_not_confirmed"),
        ],
        "protection_referral",
    ),
    Person(
        "Arben L. (16, found unaccompanied)",
        "a child identified late, diverted to the best-interests determination",
        _adult(date_of_birth="2010-05-02", is_child=True, nationality="XKX"),
        _data(
            "Arben",
            "Lleshi",
            nationality="XKX",
            family={"members": [{"relationship": "other_relative", "location": "with_person"}]},
        ),
        [
            Step("profiling", "profiled"),
            # The uncle he arrived with has left: he is unaccompanied after all.
            Step("counselling", "diverted", patch={"unaccompanied": True}),
            Step("bid", "return_in_best_interests", decision_ref="BID-2026-088"),
            Step("counselling", "decided_to_return"),
            Step("travel_documents", "issued"),
            Step("escorted_departure", "departed"),
            Step("reception", "received"),
        ],
        "reintegration",
    ),
    Person(
        "Hana S. (IOM full, Caritas counsels)",
        "a declined referral re-routed to the alternate",
        _adult(),
        _data("Hana", "Sadiku"),
        [
            Step("profiling", "profiled"),
            Step("counselling", "decided_to_return", declined_first=True),
            Step("travel_documents", "issued"),
            Step("departure", "departed"),
            Step("reception", "received"),
        ],
        "reintegration",
    ),
    Person(
        "Sefa O. (changes her mind)",
        "withdrawal during travel documents",
        _adult(),
        _data("Sefa", "Osmani"),
        [Step("profiling", "profiled"), Step("counselling", "decided_to_return")],
        "withdrawn",
        withdraw_at="travel_documents",
    ),
    Person(
        "Carlos R. (7 years, working)",
        "regularization review",
        _adult(
            years_in_host_country=7.0,
            proof_of_work=True,
            social_contributions=True,
            host_language="good",
        ),
        _data("Carlos", "Ruiz"),
        [Step("profiling", "profiled"), Step("regularization_review", "granted")],
        "regularized",
    ),
    Person(
        "Nadia R. (8 years, children in school)",
        "hardship commission, endorsed by the interior ministry",
        _adult(years_in_host_country=8.0, host_language="good", children_in_school=True),
        _data("Nadia", "Rama"),
        [
            Step("profiling", "profiled"),
            Step("hardship_commission", "recommended"),
            Step("hardship_endorsement", "endorsed"),
        ],
        "hardship_residence",
    ),
    Person(
        "Kwame A. (welder, skills in demand)",
        "legal migration channel on ILO's advice",
        _adult(nationality="GHA", skills_match=True),
        _data("Kwame", "Asante", "GHA"),
        [
            Step("profiling", "profiled"),
            Step("labour_market_advice", "channel_advised"),
            Step("legal_migration_channel", "admitted"),
        ],
        "legal_channel_admission",
    ),
    Person(
        "Besnik M. (return order enforced)",
        "forced return by the host authority, independently monitored",
        _adult(nationality="XKX"),
        _data("Besnik", "Morina", "XKX"),
        [
            Step("enforcement_review", "enforce"),
            Step("readmission_request", "accepted"),
            Step("independent_monitoring", "monitor_assigned"),
            Step("forced_removal", "removed"),
            Step("post_removal_monitoring", "monitored"),
        ],
        "removal_completed",
        owner="gov-de",
        programme="enforcement",
    ),
]


@dataclass
class Agency:
    """One agency's systems on the node that hosts it: a caseworker's and a focal point's."""

    slug: str
    url: str
    worker: AccordClient
    focal_point: AccordClient


Timeline = Callable[[str, str, str], None]
T = TypeVar("T")


class Driver:
    """Runs people through the SOP. ``tick`` lets in-process tests deliver outboxes between
    polls; against real nodes it just waits a little."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        agencies: dict[str, Agency],
        *,
        tick: Callable[[], Awaitable[None]] | None = None,
        timeline: Timeline | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.http = http
        self.agencies = agencies
        self.tick = tick or (lambda: asyncio.sleep(0.1))
        self.say = timeline or (lambda _who, _stage, _what: None)
        self.timeout = timeout
        self._owners: dict[str, str] = {}
        self._senders: dict[str, str] = {}

    def client(self, agency: str, who: str) -> AccordClient:
        a = self.agencies[agency]
        return a.worker if who == "worker" else a.focal_point

    async def call(
        self, agency: str, who: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        """Any call, as ``who`` of ``agency``: the answer, whatever its status."""
        return await self.client(agency, who).send(method, path, **kwargs)

    async def ok(self, agency: str, who: str, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.call(agency, who, method, path, **kwargs)
        if response.status_code >= 400:
            raise ScenarioFailed(
                f"{method} {path} at {agency}: {response.status_code} {response.text[:500]}"
            )
        return response.json() if response.content else None

    async def until(self, what: str, check: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + self.timeout
        while not await check():
            if time.monotonic() > deadline:
                raise ScenarioFailed(f"timed out waiting for {what}")
            await self.tick()

    async def admit(self, person: Person, programme_id: str, valid_until: str) -> tuple[str, str]:
        """Record the case and the person's consent at its owner (UNHCR, unless the person's
        case is the host authority's own) and start the journey."""
        reference = f"DEMO-{person.name.split()[0].upper()}-{time.time_ns() % 10**6}"
        owner = person.owner
        worker = self.client(owner, "worker")
        case = await self._do(
            "recording the case",
            worker.create_case(
                {"external_ref": reference, "profile": person.profile, "data": person.data}
            ),
        )
        partners = sorted(set(BOUND) - {owner})
        consent_body: dict[str, Any] = {
            "purposes": PURPOSES,
            "recipients": partners,
            "categories": sorted(CATEGORY_NAMES),
            "method": "written",
            "evidence_ref": f"consent form, {person.name}",
            "valid_until": valid_until,
        }
        if person.profile.get("is_child"):
            consent_body |= {
                "given_by": "guardian",
                "child_views": {
                    "position": "agrees",
                    "summary": "Wants to go home to his mother.",
                    "heard_on": "2026-11-20",
                    "heard_by": "guardian",
                    "language": "sq",
                },
            }
        else:
            consent_body |= {"given_by": "self"}
        consent = await self._do("recording consent", worker.create_consent(case.id, consent_body))
        started = await self._do(
            "starting the journey", worker.start_journey(case.id, programme_id=programme_id)
        )
        journey = started.model_dump(mode="json")
        self._owners[journey["id"]] = owner
        self.say(person.name, journey["stage"], "journey started")
        return journey["id"], consent.id

    async def _do(self, what: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except AccordProblem as problem:
            raise ScenarioFailed(f"{what}: {problem}") from problem

    async def journey(self, journey_id: str) -> dict[str, Any]:
        owner = self._owners.get(journey_id, OWNER)
        journey = await self._do(
            "reading the journey", self.client(owner, "worker").get_journey(journey_id)
        )
        return journey.model_dump(mode="json")

    async def run(self, person: Person, programme_id: str, valid_until: str) -> dict[str, Any]:
        journey_id, consent_id = await self.admit(person, programme_id, valid_until)
        referrals: list[str] = []
        for step in person.script:
            journey = await self.journey(journey_id)
            if journey["stage"] != step.stage:
                raise ScenarioFailed(
                    f"{person.name}: expected stage {step.stage}, journey is at {journey['stage']}"
                )
            await self.act(person, journey, step, referrals)
        if person.withdraw_at is not None:
            await self.until(
                f"{person.name} at {person.withdraw_at}",
                lambda: self._at(journey_id, person.withdraw_at or ""),
            )
            journey = await self.journey(journey_id)
            await self.send_referral(person, journey, referrals)
            await self._do(
                "withdrawing consent",
                self.client(person.owner, "worker").withdraw_consent(consent_id),
            )
            self.say(person.name, journey["stage"], "consent withdrawn")
            await self.until("erasure receipts", lambda: self._erased(referrals))
            self.say(person.name, "withdrawn", f"{len(referrals)} erasure receipt(s) held")
        final = await self.journey(journey_id)
        return {
            "journey": final,
            "stages": [entry["stage"] for entry in final["history"]],
            "referrals": referrals,
            "erasures": len(referrals) if person.withdraw_at else 0,
        }

    async def _at(self, journey_id: str, stage: str) -> bool:
        journey = await self.journey(journey_id)
        return bool(journey["stage"] == stage and journey.get("referral_id"))

    async def _erased(self, referrals: list[str]) -> bool:
        for referral_id in referrals:
            sender = self.client(self._senders.get(referral_id, OWNER), "focal_point")
            view = await self._do("reading the referral", sender.get_referral(referral_id))
            if view.erasure["receipt"] is None:
                return False
        return True

    async def act(
        self, person: Person, journey: dict[str, Any], step: Step, referrals: list[str]
    ) -> None:
        owner = person.owner
        if step.patch is not None:
            await self._do(
                "updating the profile",
                self.client(owner, "worker").update_profile(journey["case_id"], step.patch),
            )
            self.say(person.name, step.stage, f"{owner} learnt: {', '.join(sorted(step.patch))}")
            await self.until(
                f"{person.name} to be diverted from {step.stage}",
                lambda: self._left(journey["id"], step.stage),
            )
            return
        if step.declined_first:
            journey = await self._decline_and_reroute(person, journey, referrals)
        acting = journey["acting_agency"]
        if acting == owner:
            await self._do(
                "recording the outcome",
                self.client(owner, "worker").record_outcome(
                    journey["id"],
                    {
                        "stage": step.stage,
                        "outcome": step.outcome,
                        "facts": step.facts,
                        **step.decision(),
                    },
                ),
            )
            self.say(person.name, step.stage, f"{owner} recorded {step.outcome}")
        else:
            referral_id = await self.send_referral(person, journey, referrals)
            await self._do(
                "completing the referral",
                self.client(acting, "worker").complete_referral(
                    referral_id, outcome=step.outcome, decision_ref=step.decision_ref
                ),
            )
            self.say(person.name, step.stage, f"{acting} completed: {step.outcome}")
        await self.until(
            f"{person.name} to leave {step.stage}", lambda: self._left(journey["id"], step.stage)
        )

    async def send_referral(
        self, person: Person, journey: dict[str, Any], referrals: list[str]
    ) -> str:
        acting = journey["acting_agency"]
        referral_id = journey.get("referral_id")
        if referral_id is None:
            raise ScenarioFailed(
                f"{person.name}: no referral drafted for {journey['stage']}: "
                f"{journey.get('blocked')}"
            )
        await self._do(
            "approving the referral",
            self.client(person.owner, "focal_point").approve_referral(referral_id),
        )
        referrals.append(referral_id)
        self._senders[referral_id] = person.owner
        self.say(person.name, journey["stage"], f"{person.owner} approved the referral to {acting}")
        await self.until(f"the referral at {acting}", lambda: self.arrived(acting, referral_id))
        await self._do(
            "accepting the referral",
            self.client(acting, "focal_point").accept_referral(referral_id),
        )
        self.say(person.name, journey["stage"], f"{acting} accepted")
        return str(referral_id)

    async def _decline_and_reroute(
        self, person: Person, journey: dict[str, Any], referrals: list[str]
    ) -> dict[str, Any]:
        """The acting agency declines; the owner sees the journey needs attention and re-routes
        it to the alternate the programme binds for the role."""
        acting, referral_id = journey["acting_agency"], str(journey.get("referral_id"))
        await self._do(
            "approving the referral",
            self.client(person.owner, "focal_point").approve_referral(referral_id),
        )
        self._senders[referral_id] = person.owner
        referrals.append(referral_id)
        await self.until(f"the referral at {acting}", lambda: self.arrived(acting, referral_id))
        await self._do(
            "declining the referral",
            self.client(acting, "focal_point").decline_referral(
                referral_id, reason="No capacity this month."
            ),
        )
        self.say(person.name, journey["stage"], f"{acting} declined")

        async def needs_attention() -> bool:
            return bool((await self.journey(journey["id"]))["needs_attention"])

        await self.until(f"{person.name}'s journey to need attention", needs_attention)
        rerouted = (
            await self._do(
                "re-routing the journey",
                self.client(person.owner, "worker").reroute_journey(journey["id"]),
            )
        ).model_dump(mode="json")
        self.say(person.name, journey["stage"], f"re-routed to {rerouted['acting_agency']}")
        return rerouted

    async def arrived(self, agency: str, referral_id: str) -> bool:
        """Whether the referral has reached ``agency`` (its focal point can read it)."""
        try:
            await self.client(agency, "focal_point").get_referral(referral_id)
        except NotFound:
            return False
        return True

    async def _left(self, journey_id: str, stage: str) -> bool:
        journey = await self.journey(journey_id)
        if journey.get("blocked"):
            raise ScenarioFailed(f"journey blocked at {journey['stage']}: {journey['blocked']}")
        return bool(journey["stage"] != stage or journey["ended"])


class ScenarioFailed(RuntimeError):
    pass
