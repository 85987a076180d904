"""The policy decision: may this disclosure happen, and if not, every reason why.

DESIGN §5: one pure function, given the agreement, the consent, sender, recipient, purpose,
categories and time, answers allowed or not, which categories could go, and every reason for a
refusal in words a focal point understands. The API returns the reasons as the ``violations``
of an RFC 9457 problem document; the console shows them beside the referral.

Rules, each a :class:`ReasonCode`:

- the agreement is in force at that time: signed by every party, inside its validity, neither
  suspended, terminated nor superseded (DESIGN §5);
- sender and recipient are parties, and different agencies;
- the purpose is one of the agreement's purposes;
- each category is in the vocabulary and in the agreement, the sender is one of its senders and
  the recipient one of its recipients;
- under ``legal_basis: consent`` a consent is cited; a cited consent (whatever the basis) is in
  force (not withdrawn, expired or superseded) and covers recipient, purpose and each category;
- data the sender itself received from another agency goes on only if the agreement it was
  received under allows onward sharing (DESIGN §5: ``onward_sharing``, false by default);
- the recipient owes no overdue erasure receipt under this agreement (DESIGN §6, "Erasure
  fails closed");
- data only to the right state (DESIGN §9 "States"), whatever the agreement says: a request
  for a state role's purpose (:data:`STATE_ROLE_PURPOSES`: travel documents, readmission,
  reception) goes to a government only if the person is its national; and
  :data:`COUNTRY_OF_ORIGIN_PROTECTED_CATEGORIES` never go to a government whose country is
  the person's nationality or country of origin. A government whose directory entry names no
  country fails both closed; so does a request for a state role's purpose about a person whose
  nationality is not recorded (a person of undetermined nationality still has their asylum
  history seen by the host state's authorities).

Where the basis is not consent (vital interest, legal obligation, public interest) no consent is
needed. A consent cited anyway is still checked: a referral that cites a consent claims to rest
on it, and the envelope header carries that claim as evidence, so it must be true. A sender who
relies on the legal basis alone does not cite a consent, and the evidence shows that choice.

Reasons are not repeated where one explains another: a sender who is not a party is not also
told, category by category, that it is not among the senders; a category outside the
agreement is not also checked against its senders and recipients.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from contracts.agreements import (
    AgreementState,
    AgreementStatus,
    AgreementTerms,
    LegalBasis,
    break_glass_allowed,
    short_id,
)
from contracts.agreements import effective_status as agreement_status
from contracts.categories import CATEGORY_NAMES, SENSITIVE_CATEGORIES, Category
from contracts.consent import ConsentRecord, ConsentScope, ConsentStatus, scope_status
from contracts.faults import ContractError

__all__ = [
    "COUNTRY_OF_ORIGIN_PROTECTED_CATEGORIES",
    "DISCLOSURE_REASON_CODES",
    "READING_REASON_CODES",
    "RECEIVING_REASON_CODES",
    "STATE_ROLE_PURPOSES",
    "Decision",
    "DirectoryEntry",
    "PersonStates",
    "PolicyRefused",
    "Reason",
    "ReasonCode",
    "decide",
    "decide_received",
    "decide_results",
    "readable_by_agreement",
]


class ReasonCode(StrEnum):
    """Stable codes of refusal; clients and tests match on these, people read the messages."""

    # The agreement as a whole.
    AGREEMENT_NOT_SIGNED = "agreement_not_signed"
    AGREEMENT_NOT_YET_VALID = "agreement_not_yet_valid"
    AGREEMENT_SUSPENDED = "agreement_suspended"
    AGREEMENT_TERMINATED = "agreement_terminated"
    AGREEMENT_EXPIRED = "agreement_expired"
    AGREEMENT_SUPERSEDED = "agreement_superseded"
    SENDER_NOT_PARTY = "sender_not_party"
    RECIPIENT_NOT_PARTY = "recipient_not_party"
    RECIPIENT_IS_SENDER = "recipient_is_sender"
    PURPOSE_NOT_IN_AGREEMENT = "purpose_not_in_agreement"
    ONWARD_SHARING_NOT_ALLOWED = "onward_sharing_not_allowed"
    ERASURE_OVERDUE = "erasure_overdue"
    # The categories asked for.
    NO_CATEGORIES = "no_categories"
    CATEGORY_UNKNOWN = "category_unknown"
    CATEGORY_NOT_IN_AGREEMENT = "category_not_in_agreement"
    SENDER_NOT_ALLOWED_FOR_CATEGORY = "sender_not_allowed_for_category"
    RECIPIENT_NOT_ALLOWED_FOR_CATEGORY = "recipient_not_allowed_for_category"
    # The consent.
    CONSENT_MISSING = "consent_missing"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CONSENT_EXPIRED = "consent_expired"
    CONSENT_SUPERSEDED = "consent_superseded"
    CONSENT_RECIPIENT_NOT_COVERED = "consent_recipient_not_covered"
    CONSENT_PURPOSE_NOT_COVERED = "consent_purpose_not_covered"
    CONSENT_CATEGORY_NOT_COVERED = "consent_category_not_covered"
    # The person's own state (DESIGN §9).
    NOT_STATE_OF_NATIONALITY = "not_state_of_nationality"
    COUNTRY_OF_ORIGIN_PROTECTED = "country_of_origin_protected"
    # What only the recipient can see (decide_received).
    CONSENT_NOT_CARRIED = "consent_not_carried"
    SEAL_REFUSED = "seal_refused"
    # Reading, inside the recipient (readable_by_agreement).
    DATA_ROLE_MISSING = "data_role_missing"


READING_REASON_CODES: frozenset[ReasonCode] = frozenset(
    {
        ReasonCode.CATEGORY_UNKNOWN,
        ReasonCode.CATEGORY_NOT_IN_AGREEMENT,
        ReasonCode.DATA_ROLE_MISSING,
    }
)
"""What :func:`readable_by_agreement` can give."""

RECEIVING_REASON_CODES: frozenset[ReasonCode] = frozenset(
    {ReasonCode.CONSENT_NOT_CARRIED, ReasonCode.SEAL_REFUSED}
)
"""What only :func:`decide_received` (and, for seals, :func:`decide_results`) adds."""

DISCLOSURE_REASON_CODES: frozenset[ReasonCode] = (
    frozenset(ReasonCode) - {ReasonCode.DATA_ROLE_MISSING} - RECEIVING_REASON_CODES
)
"""What :func:`decide` can give."""


STATE_ROLE_PURPOSES: frozenset[str] = frozenset(
    {"travel-documents", "readmission", "avrr-reception"}
)
"""The purposes of the roles that act for a state (``origin_authority``, ``reception_agency``;
DESIGN §7): a government serves them only for its own nationals."""

COUNTRY_OF_ORIGIN_PROTECTED_CATEGORIES: frozenset[str] = frozenset(
    {"asylum_history", "protection", "biometrics"}
)
"""Never to the person's own state, whatever the agreement says (DESIGN §9): what a person
told the host state about fleeing, the risks they face, and what identifies them beyond doubt.
Compared by name, so a category joins the rule the day it joins the vocabulary."""

GOVERNMENT = "government"


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """What the directory says of the recipient (DESIGN §4): its ``kind`` and, for a
    government, the state it acts for (``None`` in a directory issued before countries)."""

    kind: str
    country: str | None = None


@dataclass(frozen=True, slots=True)
class PersonStates:
    """The states the person belongs to, as the deciding agency knows them (ISO 3166-1
    alpha-3): every nationality recorded and the country of origin. Empty = not recorded."""

    nationalities: frozenset[str] = frozenset()
    countries_of_origin: frozenset[str] = frozenset()

    @property
    def own_states(self) -> frozenset[str]:
        return self.nationalities | self.countries_of_origin

    @classmethod
    def recorded(
        cls,
        identity: Mapping[str, Any] | None,
        *,
        nationality: str | None = None,
        country_of_origin: str | None = None,
    ) -> PersonStates:
        """The states recorded in an ``identity`` category (``nationality``,
        ``other_nationalities``) and in the profile facts ``nationality`` and
        ``country_of_origin``; every one counts, so a dual national is either state's."""
        identity = identity or {}
        found = [identity.get("nationality"), nationality, *identity.get("other_nationalities", [])]
        return cls(
            nationalities=frozenset(n for n in found if isinstance(n, str)),
            countries_of_origin=frozenset({country_of_origin} if country_of_origin else ()),
        )


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason for a refusal. ``category`` is set when the reason concerns one category only:
    dropping that category from the request removes the reason."""

    code: ReasonCode
    message: str
    category: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "category": self.category}


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. ``allowed`` exactly when ``reasons`` is empty, and then ``categories_allowed``
    is every category asked for. When refused, ``categories_allowed`` lists the categories that
    could go if the others were dropped, or nothing when a reason concerns the whole disclosure.
    """

    allowed: bool
    categories_allowed: tuple[Category, ...]
    reasons: tuple[Reason, ...]

    @property
    def codes(self) -> frozenset[ReasonCode]:
        return frozenset(r.code for r in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "categories_allowed": [c.value for c in self.categories_allowed],
            "reasons": [r.as_dict() for r in self.reasons],
        }

    def require_allowed(self) -> None:
        """Raise :class:`PolicyRefused` unless allowed (STYLE: domain code raises domain errors)."""
        if not self.allowed:
            raise PolicyRefused(self.reasons)


class PolicyRefused(ContractError):
    """A disclosure the policy refused; ``reasons`` are every reason, rendered as ``violations``."""

    def __init__(self, reasons: Sequence[Reason]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(r.message for r in self.reasons) or "refused")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _last(state: AgreementState, action: str) -> datetime | None:
    for entry in reversed(state.history):
        if entry.action == action:
            return entry.at
    return None


def _agreement_status_reason(state: AgreementState, now: datetime, label: str) -> Reason | None:
    effective = agreement_status(state, now)
    if effective == AgreementStatus.ACTIVE:
        return None
    if effective == AgreementStatus.DRAFT:
        return Reason(
            ReasonCode.AGREEMENT_NOT_SIGNED,
            f"{label} is a draft: it has not been proposed to and signed by its parties",
        )
    if effective == AgreementStatus.PROPOSED:
        waiting = ", ".join(state.unsigned_parties())
        return Reason(
            ReasonCode.AGREEMENT_NOT_SIGNED,
            f"{label} is not in force yet: waiting for the signature of {waiting}",
        )
    if effective == AgreementStatus.NOT_YET_VALID:
        return Reason(
            ReasonCode.AGREEMENT_NOT_YET_VALID,
            f"{label} is in force only from {_when(state.terms.valid_from)}",
        )
    if effective == AgreementStatus.SUSPENDED:
        by = ", ".join(state.suspended_by)
        return Reason(
            ReasonCode.AGREEMENT_SUSPENDED,
            f"{label} is suspended" + (f" (by {by})" if by else ""),
        )
    if effective == AgreementStatus.TERMINATED:
        at = _last(state, "terminate")
        return Reason(
            ReasonCode.AGREEMENT_TERMINATED,
            f"{label} was terminated" + (f" on {_day(at)}" if at else ""),
        )
    if effective == AgreementStatus.EXPIRED:
        return Reason(
            ReasonCode.AGREEMENT_EXPIRED,
            f"{label} expired on {_day(state.terms.valid_until)}",
        )
    # The one status left: superseded by an amendment.
    successor = f" by version {state.superseded_by.version}" if state.superseded_by else ""
    return Reason(
        ReasonCode.AGREEMENT_SUPERSEDED,
        f"{label} was superseded{successor}; cite the version in force",
    )


def _consent_reasons(
    consent: ConsentScope,
    *,
    recipient: str,
    purpose: str,
    known: Sequence[Category],
    now: datetime,
    returning: bool = False,
) -> tuple[list[Reason], list[Reason]]:
    """(reasons about the whole disclosure, reasons about one category each).

    ``returning``: the data goes back to the agency that holds the consent (results of a
    referral), so the consent must be in force and cover the purpose, but it names as
    recipients and categories what the owner may disclose, not what comes back to it.
    """
    label = consent.label
    general: list[Reason] = []
    status = scope_status(consent, now)
    if status == ConsentStatus.WITHDRAWN:
        when = f" on {_day(consent.withdrawn_at)}" if consent.withdrawn_at else ""
        general.append(Reason(ReasonCode.CONSENT_WITHDRAWN, f"{label} was withdrawn{when}"))
    elif status == ConsentStatus.EXPIRED:
        general.append(
            Reason(
                ReasonCode.CONSENT_EXPIRED,
                f"{label} expired on {_day(consent.valid_until)}",
            )
        )
    elif status == ConsentStatus.SUPERSEDED:
        successor = (
            f" by consent {short_id(consent.superseded_by)}" if consent.superseded_by else ""
        )
        general.append(
            Reason(
                ReasonCode.CONSENT_SUPERSEDED,
                f"{label} was superseded{successor}; cite the consent in force",
            )
        )
    if not returning and recipient not in consent.recipients:
        general.append(
            Reason(
                ReasonCode.CONSENT_RECIPIENT_NOT_COVERED,
                f"{label} does not cover recipient {recipient}",
            )
        )
    if purpose not in consent.purposes:
        general.append(
            Reason(
                ReasonCode.CONSENT_PURPOSE_NOT_COVERED,
                f"{label} does not cover purpose {purpose}",
            )
        )
    per_category = (
        []
        if returning
        else [
            Reason(
                ReasonCode.CONSENT_CATEGORY_NOT_COVERED,
                f"{label} does not cover category {category.value}",
                category.value,
            )
            for category in known
            if category not in consent.categories
        ]
    )
    return general, per_category


def _scope(consent: ConsentRecord | ConsentScope | None) -> ConsentScope | None:
    return consent.scope() if isinstance(consent, ConsentRecord) else consent


def decide(
    *,
    agreement: AgreementState,
    consent: ConsentRecord | ConsentScope | None,
    sender: str,
    recipient: str,
    purpose: str,
    categories: Sequence[str],
    now: datetime,
    erasure_due: datetime | None = None,
    received_under: AgreementState | None = None,
    recipient_entry: DirectoryEntry | None = None,
    person: PersonStates | None = None,
) -> Decision:
    """May ``sender`` disclose ``categories`` of a person to ``recipient`` for ``purpose`` at
    ``now``, under ``agreement`` and ``consent``? Every reason against, in one answer.

    ``consent`` is ``None`` when none is cited; a recipient passes the :class:`ConsentScope`
    the referral carries. ``erasure_due`` is the deadline of the oldest erasure receipt
    ``recipient`` still owes under this agreement, if any; past it, nothing more goes to
    ``recipient`` under this agreement until the receipt arrives (DESIGN §6).
    ``received_under`` is the agreement under which the sender received this data, when the
    data is not the sender's own (a referral passed on); ``None`` for the sender's own case.
    ``recipient_entry`` is the recipient's directory entry and ``person`` the states the person
    belongs to: the rules of the person's own state (DESIGN §9) apply when the entry is a
    government's (``None``: the directory was not consulted, and those rules do not apply).
    """
    general, per_category, requested = _disclosure_reasons(
        agreement=agreement,
        consent=_scope(consent),
        sender=sender,
        recipient=recipient,
        purpose=purpose,
        categories=categories,
        now=now,
        erasure_due=erasure_due,
        received_under=received_under,
        returning=False,
        recipient_entry=recipient_entry,
        person=person,
    )
    return _decision(general, per_category, requested)


def decide_received(
    *,
    agreement: AgreementState,
    cited_consent: str | None,
    consent: ConsentScope | None,
    sender: str,
    recipient: str,
    purpose: str,
    categories: Sequence[str],
    seal_faults: Mapping[str, str],
    now: datetime,
    recipient_entry: DirectoryEntry | None = None,
    person: PersonStates | None = None,
) -> Decision:
    """The recipient's re-check of a referral that arrived (DESIGN §4, refusal receipts).

    The same decision the sender made, on the recipient's own copy of the agreement, plus what
    only the recipient can see: that the consent the header cites is the one whose scope the
    body carries, and that every category opened with the suite the agreement and the
    category require (``seal_faults``: category → what was wrong with its seal).
    ``person`` is what the message itself says of the person's states (its ``identity``).
    """
    general, per_category, requested = _disclosure_reasons(
        agreement=agreement,
        consent=consent if consent is not None and consent.id == cited_consent else None,
        sender=sender,
        recipient=recipient,
        purpose=purpose,
        categories=categories,
        now=now,
        erasure_due=None,
        received_under=None,
        returning=False,
        recipient_entry=recipient_entry,
        person=person,
    )
    if cited_consent is not None and (consent is None or consent.id != cited_consent):
        general = [r for r in general if r.code != ReasonCode.CONSENT_MISSING]
        general.append(
            Reason(
                ReasonCode.CONSENT_NOT_CARRIED,
                f"the referral cites consent {short_id(cited_consent)} but does not carry "
                "its scope, so the disclosure cannot be checked against it",
            )
        )
    per_category.extend(_seal_reasons(seal_faults))
    return _decision(general, per_category, requested)


def decide_results(
    *,
    agreement: AgreementState,
    consent: ConsentRecord | ConsentScope | None,
    sender: str,
    recipient: str,
    purpose: str,
    categories: Sequence[str],
    seal_faults: Mapping[str, str] | None = None,
    now: datetime,
    recipient_entry: DirectoryEntry | None = None,
    person: PersonStates | None = None,
) -> Decision:
    """May the recipient of a referral send ``categories`` back to its sender as results?

    Made by the completing agency before it seals them, and again by the referral's sender
    when they arrive. The agreement must be in force and let each category flow that way,
    for the referral's purpose. Where the agreement rests on consent, the referral's consent
    must still be in force and cover the purpose; it need not name the sender as a recipient
    or the result categories, because the results go back to the agency that holds it.
    The protected categories never go back to a government that is the person's own state.
    """
    general, per_category, requested = _disclosure_reasons(
        agreement=agreement,
        consent=_scope(consent),
        sender=sender,
        recipient=recipient,
        purpose=purpose,
        categories=categories,
        now=now,
        erasure_due=None,
        received_under=None,
        returning=True,
        recipient_entry=recipient_entry,
        person=person,
    )
    general = [r for r in general if r.code != ReasonCode.NO_CATEGORIES]
    per_category.extend(_seal_reasons(seal_faults or {}))
    return _decision(general, per_category, requested)


def _seal_reasons(seal_faults: Mapping[str, str]) -> list[Reason]:
    return [
        Reason(ReasonCode.SEAL_REFUSED, f"category {name}: {fault}", name)
        for name, fault in sorted(seal_faults.items())
    ]


def _decision(general: list[Reason], per_category: list[Reason], requested: list[str]) -> Decision:
    refused_categories = {r.category for r in per_category}
    categories_allowed = (
        () if general else tuple(Category(n) for n in requested if n not in refused_categories)
    )
    reasons = (*general, *_in_request_order(per_category, requested))
    return Decision(
        allowed=not reasons, categories_allowed=categories_allowed, reasons=tuple(reasons)
    )


def _disclosure_reasons(
    *,
    agreement: AgreementState,
    consent: ConsentScope | None,
    sender: str,
    recipient: str,
    purpose: str,
    categories: Sequence[str],
    now: datetime,
    erasure_due: datetime | None,
    received_under: AgreementState | None,
    returning: bool,
    recipient_entry: DirectoryEntry | None = None,
    person: PersonStates | None = None,
) -> tuple[list[Reason], list[Reason], list[str]]:
    terms = agreement.terms
    label = f"agreement {agreement.ref}"
    general: list[Reason] = []
    per_category: list[Reason] = []

    status_reason = _agreement_status_reason(agreement, now, label)
    if status_reason is not None:
        general.append(status_reason)
    sender_is_party = agreement.is_party(sender)
    recipient_is_party = agreement.is_party(recipient)
    if not sender_is_party:
        general.append(
            Reason(ReasonCode.SENDER_NOT_PARTY, f"sender {sender} is not a party to {label}")
        )
    if not recipient_is_party:
        general.append(
            Reason(
                ReasonCode.RECIPIENT_NOT_PARTY, f"recipient {recipient} is not a party to {label}"
            )
        )
    if sender == recipient:
        general.append(
            Reason(
                ReasonCode.RECIPIENT_IS_SENDER,
                f"{sender} is both sender and recipient: a referral goes to another agency",
            )
        )
    if purpose not in terms.purposes:
        listed = ", ".join(sorted(set(terms.purposes)))
        general.append(
            Reason(
                ReasonCode.PURPOSE_NOT_IN_AGREEMENT,
                f"purpose {purpose} is not among the purposes of {label} ({listed})",
            )
        )
    if received_under is not None and not received_under.terms.onward_sharing:
        general.append(
            Reason(
                ReasonCode.ONWARD_SHARING_NOT_ALLOWED,
                f"{sender} received this data under agreement {received_under.ref}, "
                "which does not allow onward sharing",
            )
        )
    if erasure_due is not None and erasure_due <= now:
        general.append(
            Reason(
                ReasonCode.ERASURE_OVERDUE,
                f"{recipient} has not confirmed erasure of earlier data under {label} "
                f"(due {_when(erasure_due)})",
            )
        )

    requested = list(dict.fromkeys(categories))
    if recipient_entry is not None and recipient_entry.kind == GOVERNMENT:
        state_general, state_per_category = _own_state_reasons(
            recipient,
            recipient_entry.country,
            person or PersonStates(),
            purpose=None if returning else purpose,
            requested=requested,
        )
        general.extend(state_general)
        per_category.extend(state_per_category)
    if not requested:
        general.append(
            Reason(ReasonCode.NO_CATEGORIES, "the disclosure names no data category to send")
        )
    known: list[Category] = []
    for name in requested:
        if name not in CATEGORY_NAMES:
            per_category.append(
                Reason(ReasonCode.CATEGORY_UNKNOWN, f"{name} is not a data category", name)
            )
            continue
        category = Category(name)
        known.append(category)
        category_terms = terms.categories.get(category)
        if category_terms is None:
            per_category.append(
                Reason(
                    ReasonCode.CATEGORY_NOT_IN_AGREEMENT,
                    f"category {name} is not covered by {label}",
                    name,
                )
            )
            continue
        if sender_is_party and sender not in category_terms.senders:
            per_category.append(
                Reason(
                    ReasonCode.SENDER_NOT_ALLOWED_FOR_CATEGORY,
                    f"{sender} may not send category {name} under {label}",
                    name,
                )
            )
        if recipient_is_party and recipient not in category_terms.recipients:
            per_category.append(
                Reason(
                    ReasonCode.RECIPIENT_NOT_ALLOWED_FOR_CATEGORY,
                    f"category {name} is not shared with {recipient} under {label}",
                    name,
                )
            )

    if consent is not None:
        consent_general, consent_per_category = _consent_reasons(
            consent, recipient=recipient, purpose=purpose, known=known, now=now, returning=returning
        )
        general.extend(consent_general)
        per_category.extend(consent_per_category)
    elif terms.legal_basis == LegalBasis.CONSENT:
        general.append(
            Reason(
                ReasonCode.CONSENT_MISSING,
                f"{label} rests on consent, and no consent is cited for this disclosure",
            )
        )
    return general, per_category, requested


def _own_state_reasons(
    recipient: str,
    country: str | None,
    person: PersonStates,
    *,
    purpose: str | None,
    requested: Sequence[str],
) -> tuple[list[Reason], list[Reason]]:
    """DESIGN §9 "States" for a government recipient; ``purpose`` is None for results.

    Messages name the recipient and its state, never the person's nationality.
    """
    general: list[Reason] = []
    if purpose in STATE_ROLE_PURPOSES:
        if country is None:
            why = f"the directory names no state for government {recipient}"
        elif not person.nationalities:
            why = "the person's nationality is not recorded"
        elif country not in person.nationalities:
            why = f"the person is not a national of {country}, the state {recipient} acts for"
        else:
            why = None
        if why is not None:
            general.append(
                Reason(
                    ReasonCode.NOT_STATE_OF_NATIONALITY,
                    f"purpose {purpose} goes only to the authority of the person's state of "
                    f"nationality, and {why}",
                )
            )
    protected = [name for name in requested if name in COUNTRY_OF_ORIGIN_PROTECTED_CATEGORIES]
    # A person whose states are not recorded is not refused here: the host state's own
    # authorities need the asylum history of a person of undetermined nationality, and the
    # requests that go to an origin state (STATE_ROLE_PURPOSES) fail closed above anyway.
    if country is None:
        why = f"the directory names no state for government {recipient}, so it may be it"
    elif country in person.own_states:
        why = f"{recipient} acts for {country}"
    else:
        why = None
    per_category = (
        [
            Reason(
                ReasonCode.COUNTRY_OF_ORIGIN_PROTECTED,
                f"category {name} never goes to the person's state of nationality or country "
                f"of origin, whatever the agreement says, and {why}",
                name,
            )
            for name in protected
        ]
        if why is not None
        else []
    )
    return general, per_category


def _in_request_order(reasons: list[Reason], requested: list[str]) -> list[Reason]:
    rank = {name: i for i, name in enumerate(requested)}
    return sorted(reasons, key=lambda r: rank.get(r.category or "", -1))


def readable_by_agreement(
    terms: AgreementTerms,
    categories: Iterable[str],
    data_roles: Collection[str],
    *,
    break_glass: Collection[str] = (),
) -> tuple[tuple[Category, ...], tuple[Reason, ...]]:
    """Which of ``categories`` a principal holding ``data_roles`` may read: ``(readable,
    withheld)``, each withheld category with the reason (DESIGN §6: ``GET`` lists the others as
    ``withheld``).

    A category opens for a principal who holds one of the data roles the agreement names for
    it. A category for which the agreement names no role is open to every user of the recipient
    who may read its referrals, except a sensitive one (health, protection), which stays closed:
    validation never lets such terms through, and if they appear anyway the rule fails closed.

    ``break_glass`` names the categories a current break-glass grant opens for this principal
    (DESIGN §6; the service records the grant, its reason and its expiry). It is honoured only
    where the agreement allows break-glass (:func:`contracts.agreements.break_glass_allowed`).
    """
    held = frozenset(data_roles)
    glass = frozenset(break_glass) if break_glass_allowed(terms) else frozenset()
    readable: list[Category] = []
    withheld: list[Reason] = []
    for name in dict.fromkeys(categories):
        if name not in CATEGORY_NAMES:
            withheld.append(
                Reason(ReasonCode.CATEGORY_UNKNOWN, f"{name} is not a data category", name)
            )
            continue
        category = Category(name)
        category_terms = terms.categories.get(category)
        if category_terms is None:
            withheld.append(
                Reason(
                    ReasonCode.CATEGORY_NOT_IN_AGREEMENT,
                    f"category {name} is not covered by the agreement it was sent under",
                    name,
                )
            )
            continue
        roles = frozenset(category_terms.data_roles)
        if (not roles and category not in SENSITIVE_CATEGORIES) or roles & held or name in glass:
            readable.append(category)
        else:
            needed = ", ".join(sorted(roles)) or "(none named)"
            withheld.append(
                Reason(
                    ReasonCode.DATA_ROLE_MISSING,
                    f"reading category {name} needs one of the data roles {needed}",
                    name,
                )
            )
    return tuple(readable), tuple(withheld)
