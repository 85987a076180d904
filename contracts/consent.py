"""Consent records: what the person agreed to share, with whom, for what, and until when.

DESIGN §5 and the AVRR principles of DESIGN §1: the decision is informed and voluntary, and the
person may change their mind at any time. So a consent is never edited: a change is a new
consent that supersedes the old one, and a withdrawal is final and is recorded as such (the
service then cascades it to every agency that holds the data).

For a child, consent is given by a guardian or legal representative, and the child's own views
are heard and recorded (CRC art. 3 best interests, art. 12 the right to be heard).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from contracts.agencies import AgencySlug
from contracts.agreements import PurposeSlug, UtcDatetime, rfc3339, short_id
from contracts.categories import (
    CATEGORY_NAMES,
    Category,
    LanguageCode,
    Reference,
    ShortText,
    Text,
)
from contracts.faults import (
    Fault,
    FaultsError,
    InvalidTransition,
    faults_from_validation_error,
    parse_fields,
)

__all__ = [
    "ChildViews",
    "ConsentFault",
    "ConsentInvalid",
    "ConsentMethod",
    "ConsentRecord",
    "ConsentScope",
    "ConsentStatus",
    "ConsentTerms",
    "GivenBy",
    "InvalidTransition",
    "Narrowing",
    "effective_status",
    "give",
    "narrow",
    "scope_status",
    "supersede",
    "validate_consent",
    "withdraw",
]


class GivenBy(StrEnum):
    SELF = "self"
    GUARDIAN = "guardian"
    LEGAL_REPRESENTATIVE = "legal_representative"


class ConsentMethod(StrEnum):
    WRITTEN = "written"
    VERBAL = "verbal"
    ELECTRONIC = "electronic"


class ConsentStatus(StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChildViews(_Frozen):
    """The child's views, heard and recorded (CRC art. 12: given due weight in accordance with the
    child's age and maturity). A child too young to form views is recorded as such, with why."""

    position: Literal[
        "agrees", "disagrees", "partly_agrees", "no_view_expressed", "not_capable_of_forming_views"
    ]
    summary: Text
    heard_on: date
    heard_by: ShortText
    language: LanguageCode | None = None
    interpreter_used: bool | None = None


class ConsentTerms(_Frozen):
    """What the person (or their guardian) agreed to, as entered (``POST .../consents``)."""

    purposes: tuple[PurposeSlug, ...] = Field(min_length=1)
    recipients: tuple[AgencySlug, ...] = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)
    given_by: GivenBy
    method: ConsentMethod
    child_views: ChildViews | None = None
    valid_until: UtcDatetime
    #: Where the proof is kept: the signed form, the recorded session, the case note.
    evidence_ref: Reference | None = None


class ConsentFault(StrEnum):
    """Codes of the faults :func:`validate_consent` reports beyond the shape of each field."""

    CATEGORY_UNKNOWN = "category_unknown"
    CHILD_GIVEN_BY_SELF = "child_given_by_self"
    CHILD_VIEWS_MISSING = "child_views_missing"
    VALID_UNTIL_PASSED = "valid_until_passed"
    EVIDENCE_MISSING = "evidence_missing"


class ConsentInvalid(FaultsError):
    """Consent refused; ``faults`` lists every reason."""


_CATEGORY_LIST = TypeAdapter(tuple[str, ...])


def _parse_categories(raw: Mapping[str, Any]) -> tuple[tuple[Category, ...] | None, list[Fault]]:
    if "categories" not in raw:
        return None, [Fault(("categories",), "is required", "missing")]
    try:
        names = _CATEGORY_LIST.validate_python(raw["categories"])
    except ValidationError as error:
        return None, faults_from_validation_error(error, ("categories",))
    if not names:
        return None, [Fault(("categories",), "name at least one data category", "too_short")]
    faults = []
    vocabulary = ", ".join(sorted(CATEGORY_NAMES))
    for i, name in enumerate(names):
        if name not in CATEGORY_NAMES:
            message = f"{name} is not a data category; the vocabulary is: {vocabulary}"
            faults.append(Fault(("categories", i), message, ConsentFault.CATEGORY_UNKNOWN))
    if faults:
        return None, faults
    return tuple(Category(n) for n in names), []


def validate_consent(
    data: Mapping[str, Any] | ConsentTerms, *, case_is_child: bool, now: datetime
) -> ConsentTerms:
    """Consent terms from a request, checked against the rules; every fault listed at once.

    Rules beyond the shape of each field:

    - a child's consent is given by a guardian or legal representative, never by the child
      alone (CRC art. 3; the roundtable: a guardian for every unaccompanied child);
    - a child's views are recorded in ``child_views`` (CRC art. 12);
    - ``valid_until`` lies after ``now``: a consent that is over when recorded covers nothing;
    - verbal consent names its ``evidence_ref`` (the case note or recording), since nothing
      else proves it was given.
    """
    raw: Mapping[str, Any]
    if isinstance(data, ConsentTerms):
        raw = data.model_dump(mode="json")
    elif isinstance(data, Mapping):
        raw = data
    else:
        raise ConsentInvalid([Fault((), "must be a JSON object", "model_type")])
    values, faults = parse_fields(ConsentTerms, raw, skip=frozenset({"categories"}))
    _, category_faults = _parse_categories(raw)
    faults.extend(category_faults)
    given_by = values.get("given_by")
    if case_is_child and given_by == GivenBy.SELF:
        faults.append(
            Fault(
                ("given_by",),
                "a child's consent must be given by a guardian or legal representative; "
                "record the child's own views in child_views",
                ConsentFault.CHILD_GIVEN_BY_SELF,
            )
        )
    if case_is_child and _absent(values, faults, "child_views"):
        faults.append(
            Fault(
                ("child_views",),
                "the child's views must be heard and recorded (CRC art. 12)",
                ConsentFault.CHILD_VIEWS_MISSING,
            )
        )
    valid_until = values.get("valid_until")
    if valid_until is not None and valid_until <= now:
        faults.append(
            Fault(
                ("valid_until",),
                f"valid_until ({rfc3339(valid_until)}) has already passed",
                ConsentFault.VALID_UNTIL_PASSED,
            )
        )
    if values.get("method") == ConsentMethod.VERBAL and _absent(values, faults, "evidence_ref"):
        faults.append(
            Fault(
                ("evidence_ref",),
                "verbal consent needs an evidence_ref: the case note or recording of it",
                ConsentFault.EVIDENCE_MISSING,
            )
        )
    if faults:
        raise ConsentInvalid(faults)
    try:
        return ConsentTerms.model_validate(raw)
    except ValidationError as error:  # pragma: no cover - the checks above are the same rules
        raise ConsentInvalid(faults_from_validation_error(error)) from None


def _absent(values: Mapping[str, Any], faults: list[Fault], field: str) -> bool:
    """Not given (or null), and not already reported as malformed."""
    return values.get(field) is None and not any(f.loc[:1] == (field,) for f in faults)


class ConsentRecord(_Frozen):
    """A consent as held by the agency that recorded it. Never widened in place: see
    :func:`supersede`; the person may only take part of it back (:func:`narrow`)."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    case_id: str | None = None
    terms: ConsentTerms
    given_at: UtcDatetime
    status: ConsentStatus = ConsentStatus.GIVEN
    supersedes: str | None = None
    superseded_by: str | None = None
    superseded_at: UtcDatetime | None = None
    withdrawn_at: UtcDatetime | None = None
    withdrawal_reason: Text | None = None

    @property
    def label(self) -> str:
        """How a message names it: "consent 7f3a09c1…"."""
        return f"consent {short_id(self.id)}"

    def scope(self) -> ConsentScope:
        """What a recipient needs to check a disclosure against this consent."""
        return ConsentScope(
            id=self.id,
            purposes=self.terms.purposes,
            recipients=self.terms.recipients,
            categories=self.terms.categories,
            valid_until=self.terms.valid_until,
            status=self.status,
            superseded_by=self.superseded_by,
            withdrawn_at=self.withdrawn_at,
        )


class ConsentScope(_Frozen):
    """A consent as far as a disclosure depends on it: purposes, recipients, categories, time
    and status, and nothing about the person. Who gave it, how, the child's views and where the
    evidence is kept stay with the agency that recorded it; the scope travels in a referral's
    signed body so the recipient can re-check the disclosure (DESIGN §4 refusal receipts)."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    purposes: tuple[PurposeSlug, ...] = Field(min_length=1)
    recipients: tuple[AgencySlug, ...] = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)
    valid_until: UtcDatetime
    status: ConsentStatus = ConsentStatus.GIVEN
    superseded_by: str | None = None
    withdrawn_at: UtcDatetime | None = None

    @property
    def label(self) -> str:
        return f"consent {short_id(self.id)}"


def scope_status(scope: ConsentScope, now: datetime) -> ConsentStatus:
    """:func:`effective_status` of the consent a scope describes."""
    if scope.status in (ConsentStatus.WITHDRAWN, ConsentStatus.SUPERSEDED):
        return scope.status
    if now >= scope.valid_until:
        return ConsentStatus.EXPIRED
    return ConsentStatus.GIVEN


def give(
    consent_id: str,
    terms: ConsentTerms,
    *,
    given_at: datetime,
    case_id: str | None = None,
) -> ConsentRecord:
    """A new consent, given at ``given_at`` (terms already checked by :func:`validate_consent`)."""
    return ConsentRecord(id=consent_id, case_id=case_id, terms=terms, given_at=given_at)


def effective_status(consent: ConsentRecord, now: datetime) -> ConsentStatus:
    """The status at ``now``. Withdrawn and superseded are final whatever the dates say;
    otherwise a consent is ``expired`` from ``valid_until`` on."""
    return scope_status(consent.scope(), now)


def withdraw(consent: ConsentRecord, *, at: datetime, reason: str | None = None) -> ConsentRecord:
    """The person changed their mind (AVRR principle ii: at any time, no reason needed).

    An expired consent can still be withdrawn: agencies may still hold what it let through, and
    the withdrawal is what tells them to erase it. A superseded consent cannot: the person
    withdraws the consent that replaced it.
    """
    if consent.status == ConsentStatus.WITHDRAWN:
        raise InvalidTransition(
            "withdraw", consent.status.value, f"{consent.label} is already withdrawn"
        )
    if consent.status == ConsentStatus.SUPERSEDED:
        raise InvalidTransition(
            "withdraw",
            consent.status.value,
            f"{consent.label} was superseded by consent {short_id(consent.superseded_by or '?')}; "
            "withdraw that one",
        )
    return consent.model_copy(
        update={
            "status": ConsentStatus.WITHDRAWN,
            "withdrawn_at": at,
            "withdrawal_reason": reason or None,
        }
    )


def supersede(
    consent: ConsentRecord, new_id: str, terms: ConsentTerms, *, at: datetime
) -> tuple[ConsentRecord, ConsentRecord]:
    """Replace a consent by a new one (wider, narrower or renewed): ``(old, new)``.

    The old record is kept, marked superseded, so what was disclosed under it stays provable.
    A withdrawn consent is not renewed this way: a new consent after a withdrawal is a new
    decision and is recorded with :func:`give`.
    """
    if consent.status != ConsentStatus.GIVEN:
        raise InvalidTransition(
            "supersede",
            consent.status.value,
            f"{consent.label} is {consent.status.value} and cannot be superseded",
        )
    old = consent.model_copy(
        update={"status": ConsentStatus.SUPERSEDED, "superseded_by": new_id, "superseded_at": at}
    )
    new = ConsentRecord(
        id=new_id, case_id=consent.case_id, terms=terms, given_at=at, supersedes=consent.id
    )
    return old, new


class Narrowing(_Frozen):
    """What the person takes back from a consent, and keeps the rest of (issue 16: a change of
    mind is not the end of the person's case)."""

    recipients: tuple[AgencySlug, ...] = ()
    purposes: tuple[PurposeSlug, ...] = ()
    categories: tuple[Category, ...] = ()

    def covers(self, *, recipient: str, purpose: str, categories: Collection[str]) -> bool:
        """Whether a disclosure rested on something taken back: it is then revoked."""
        return (
            recipient in self.recipients
            or purpose in self.purposes
            or bool(set(categories) & {c.value for c in self.categories})
        )


def narrow(consent: ConsentRecord, taken_back: Narrowing) -> tuple[ConsentRecord, bool]:
    """The consent without what the person took back, and whether that leaves nothing of it
    (every recipient, purpose or category taken back: the caller withdraws it instead).

    Every fault at once: nothing taken back, or an item the consent never covered. The record
    keeps its id, so what it let through before, and still covers, stays valid.
    """
    if consent.status != ConsentStatus.GIVEN:
        raise InvalidTransition(
            "narrow", consent.status.value, f"{consent.label} is {consent.status.value}"
        )
    faults: list[Fault] = []
    if not (taken_back.recipients or taken_back.purposes or taken_back.categories):
        faults.append(
            Fault(
                (), "name the recipients, purposes or categories taken back", "nothing_taken_back"
            )
        )
    terms = consent.terms
    for field, held, named in (
        ("recipients", terms.recipients, taken_back.recipients),
        ("purposes", terms.purposes, taken_back.purposes),
        ("categories", terms.categories, taken_back.categories),
    ):
        for k, item in enumerate(named):
            if item not in held:
                faults.append(
                    Fault(
                        (field, k),
                        f"{consent.label} does not cover {item}; it covers {', '.join(held)}",
                        "not_in_consent",
                    )
                )
    if faults:
        raise ConsentInvalid(faults)
    kept = terms.model_copy(
        update={
            "recipients": tuple(r for r in terms.recipients if r not in taken_back.recipients),
            "purposes": tuple(p for p in terms.purposes if p not in taken_back.purposes),
            "categories": tuple(c for c in terms.categories if c not in taken_back.categories),
        }
    )
    emptied = not (kept.recipients and kept.purposes and kept.categories)
    return (consent if emptied else consent.model_copy(update={"terms": kept})), emptied
