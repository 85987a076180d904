"""Data-sharing agreements: the terms data moves under, their signed form, and their lifecycle.

DESIGN §5. An agreement names its parties, the purposes data may serve, and, per data
category, which parties may send it, which may receive it and which data roles inside a
recipient may read it. Every party signs the same canonical text (RFC 8785 over
:func:`canonical`); the agreement is active only once all have. This module is pure: it
validates terms, computes the signed form and moves an agreement through its statuses.
Ed25519 verification of the signatures happens where the keys are (``contracts.keys``);
here a signature is a record the caller has already verified.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from contracts.agencies import AgencySlug
from contracts.canonical import canonical_digest
from contracts.categories import CATEGORY_NAMES, SENSITIVE_CATEGORIES, Category, ShortText
from contracts.data_roles import SUGGESTED_DATA_ROLES
from contracts.faults import (
    ContractError,
    Fault,
    FaultsError,
    InvalidTransition,
    faults_from_validation_error,
    parse_fields,
)

__all__ = [
    "AgreementFault",
    "AgreementInvalid",
    "AgreementRef",
    "AgreementState",
    "AgreementStatus",
    "AgreementTerms",
    "CategoryTerms",
    "DataRole",
    "Encryption",
    "HistoryEntry",
    "InvalidTransition",
    "LegalBasis",
    "NotAParty",
    "PurposeSlug",
    "Signature",
    "SignedDigest",
    "StaleDigest",
    "TermsWarning",
    "amend",
    "break_glass_allowed",
    "canonical",
    "change_faults",
    "digest",
    "effective_status",
    "expire",
    "new_draft",
    "proposal_faults",
    "propose",
    "resume",
    "revise",
    "rfc3339",
    "short_id",
    "sign",
    "supersede",
    "suspend",
    "terminate",
    "terms_warnings",
    "validate_terms",
]


class LegalBasis(StrEnum):
    """Why the disclosure is lawful. ``consent`` unless the agreement says otherwise (DESIGN §5)."""

    CONSENT = "consent"
    VITAL_INTEREST = "vital_interest"
    LEGAL_OBLIGATION = "legal_obligation"
    PUBLIC_INTEREST = "public_interest"


class Encryption(StrEnum):
    """HPKE suite the envelope uses for this agreement (DESIGN §4)."""

    HPKE_X25519 = "hpke-x25519"
    HPKE_MLKEM768_X25519 = "hpke-mlkem768-x25519"


class AgreementStatus(StrEnum):
    """Stored statuses, plus ``not_yet_valid``, which only :func:`effective_status` reports
    (signed by every party, but ``valid_from`` is still ahead)."""

    DRAFT = "draft"
    PROPOSED = "proposed"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    NOT_YET_VALID = "not_yet_valid"


FINAL_STATUSES = frozenset(
    {AgreementStatus.TERMINATED, AgreementStatus.EXPIRED, AgreementStatus.SUPERSEDED}
)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A time with its zone, stored in UTC: naive times are refused, never guessed."""

PurposeSlug = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=64)
]
"""``avrr-counselling``, ``reintegration-employment``, ``best-interests-determination``."""

DataRole = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
"""A role inside the recipient agency that may read a category (``protection_officer``)."""

AgreementId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
"""A token (a UUID where this node makes it): ids travel between nodes and into the event log,
so one that could carry prose is refused on arrival rather than anywhere later."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoryTerms(_Frozen):
    """Who may send one category, who may receive it, and who inside a recipient may read it.

    DESIGN §9: every category names the data roles that may read it; a draft that names none
    is refused (:func:`validate_terms`). Terms signed before that rule may still hold an empty
    list, which means any user of a recipient agency who may read its referrals may read the
    category, except a sensitive one, which then opens to nobody; such terms carry a warning
    (:func:`terms_warnings`) until an amendment names the roles.
    """

    senders: tuple[AgencySlug, ...] = Field(min_length=1)
    recipients: tuple[AgencySlug, ...] = Field(min_length=1)
    data_roles: tuple[DataRole, ...] = ()


class AgreementFault(StrEnum):
    """Codes of the faults :func:`validate_terms` reports beyond the shape of each field."""

    PARTIES_TOO_FEW = "parties_too_few"
    PARTY_DUPLICATE = "party_duplicate"
    PARTY_UNKNOWN = "party_unknown"
    CATEGORIES_EMPTY = "categories_empty"
    CATEGORY_UNKNOWN = "category_unknown"
    SENDER_NOT_PARTY = "sender_not_party"
    RECIPIENT_NOT_PARTY = "recipient_not_party"
    CATEGORY_NO_FLOW = "category_no_flow"
    DATA_ROLES_MISSING = "data_roles_missing"
    VALIDITY_ORDER = "validity_order"
    BREAK_GLASS_BASIS = "break_glass_basis"


def _example_role(category: Category) -> str:
    return SUGGESTED_DATA_ROLES[category][0].value


class AgreementTerms(_Frozen):
    """The terms every party signs (DESIGN §5); :func:`validate_terms` is the way in from outside.

    ``break_glass`` (DESIGN §6) lets a focal point of a recipient open a category withheld from
    their data roles once, with a written reason, for ``break_glass_hours``. It is allowed only
    when ``legal_basis`` is ``vital_interest``: opening data past its role restriction is
    justified only to protect someone's life or safety. An agreement on another basis that
    asks for it is refused outright rather than silently carrying a clause that does nothing.
    """

    title: ShortText
    parties: tuple[AgencySlug, ...]
    purposes: tuple[PurposeSlug, ...] = Field(min_length=1)
    categories: dict[Category, CategoryTerms]
    legal_basis: LegalBasis = LegalBasis.CONSENT
    retention_days: int = Field(ge=1, le=3650)
    onward_sharing: bool = False
    valid_from: UtcDatetime
    valid_until: UtcDatetime
    encryption: Encryption = Encryption.HPKE_X25519
    #: DESIGN §6 "Erasure fails closed": a recipient owes its signed erasure receipt by then.
    erasure_deadline_hours: int = Field(default=72, ge=1, le=720)
    break_glass: bool = False
    break_glass_hours: int = Field(default=3, ge=1, le=24)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        faults = _rule_faults(
            parties=self.parties,
            categories=self.categories,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            legal_basis=self.legal_basis,
            break_glass=self.break_glass,
            known_agencies=None,
            # Terms already signed may predate the rule; they load, and carry a warning.
            drafting=False,
        )
        if faults:
            raise ValueError("; ".join(f"{f.path}: {f.message}" for f in faults))
        return self

    def senders_of(self, category: Category) -> frozenset[str]:
        terms = self.categories.get(category)
        return frozenset(terms.senders) if terms else frozenset()

    def recipients_of(self, category: Category) -> frozenset[str]:
        terms = self.categories.get(category)
        return frozenset(terms.recipients) if terms else frozenset()

    def data_roles_of(self, category: Category) -> frozenset[str]:
        terms = self.categories.get(category)
        return frozenset(terms.data_roles) if terms else frozenset()


class AgreementInvalid(FaultsError):
    """Terms refused; ``faults`` lists every reason (DESIGN §5: a focal point fixes all at once)."""


class NotAParty(ContractError):
    """An agency acted on (signed, suspended, ...) an agreement it is not a party to."""

    def __init__(self, agency: str, agreement: str) -> None:
        self.agency = agency
        self.agreement = agreement
        super().__init__(f"{agency} is not a party to agreement {agreement}")


class StaleDigest(ContractError):
    """A signature over text that is not the agreement's current canonical text."""

    def __init__(self, agency: str, signed: str, current: str) -> None:
        self.agency = agency
        self.signed = signed
        self.current = current
        super().__init__(
            f"{agency} signed digest {signed[:12]}…, but the agreement's text is now "
            f"{current[:12]}…; review the current text and sign it"
        )


# --- validation ---------------------------------------------------------------------------

_CATEGORY_TERMS = TypeAdapter(CategoryTerms)


def _parse_categories(data: Mapping[str, Any]) -> tuple[dict[Category, CategoryTerms], list[Fault]]:
    """Category by category, so one bad entry does not hide the faults of the others."""
    if "categories" not in data:
        return {}, [Fault(("categories",), "is required", "missing")]
    raw = data["categories"]
    if not isinstance(raw, Mapping):
        return {}, [Fault(("categories",), "must be an object: category -> terms", "dict_type")]
    if not raw:
        message = "name at least one data category the agreement covers"
        return {}, [Fault(("categories",), message, AgreementFault.CATEGORIES_EMPTY)]
    parsed: dict[Category, CategoryTerms] = {}
    faults: list[Fault] = []
    vocabulary = ", ".join(sorted(CATEGORY_NAMES))
    for key, value in raw.items():
        name = str(key)
        if name not in CATEGORY_NAMES:
            message = f"{name} is not a data category; the vocabulary is: {vocabulary}"
            faults.append(Fault(("categories", name), message, AgreementFault.CATEGORY_UNKNOWN))
            continue
        try:
            parsed[Category(name)] = _CATEGORY_TERMS.validate_python(value)
        except ValidationError as error:
            faults.extend(faults_from_validation_error(error, ("categories", name)))
    return parsed, faults


def _no_data_roles(category: Category, terms: CategoryTerms) -> str:
    if category in SENSITIVE_CATEGORIES:
        return (
            f"{category.value} is a sensitive category: name the data roles that may read "
            f"it (for example {_example_role(category)})"
        )
    return (
        f"name the data roles that may read {category.value} at "
        f"{', '.join(sorted(set(terms.recipients)))} (for example {_example_role(category)}): "
        "with none named, everyone there who reads referrals would read it"
    )


def _rule_faults(
    *,
    parties: tuple[str, ...] | None,
    categories: Mapping[Category, CategoryTerms],
    valid_from: datetime | None,
    valid_until: datetime | None,
    legal_basis: LegalBasis | None,
    break_glass: bool | None,
    known_agencies: Collection[str] | None,
    drafting: bool,
) -> list[Fault]:
    """The rules across fields; a rule whose inputs failed to parse is skipped, not guessed.

    ``drafting``: new terms from this node, held to every rule; otherwise terms already held
    (stored, or signed elsewhere), which keep working under the rules they were signed under.
    """
    faults: list[Fault] = []
    if parties is not None:
        if len(set(parties)) < 2:
            faults.append(
                Fault(
                    ("parties",),
                    "an agreement needs at least two different parties",
                    AgreementFault.PARTIES_TOO_FEW,
                )
            )
        seen: set[str] = set()
        for i, party in enumerate(parties):
            if party in seen:
                faults.append(
                    Fault(
                        ("parties", i), f"{party} is listed twice", AgreementFault.PARTY_DUPLICATE
                    )
                )
            seen.add(party)
            if known_agencies is not None and party not in known_agencies:
                faults.append(
                    Fault(
                        ("parties", i),
                        f"{party} is not a member of the federation directory",
                        AgreementFault.PARTY_UNKNOWN,
                    )
                )
    party_set = frozenset(parties) if parties is not None else None
    for category, terms in categories.items():
        loc = ("categories", category.value)
        if party_set is not None:
            for field, code in (
                ("senders", AgreementFault.SENDER_NOT_PARTY),
                ("recipients", AgreementFault.RECIPIENT_NOT_PARTY),
            ):
                for i, agency in enumerate(getattr(terms, field)):
                    if agency not in party_set:
                        message = f"{agency} is not a party to this agreement"
                        faults.append(Fault((*loc, field, i), message, code))
        if len(set(terms.senders) | set(terms.recipients)) < 2:
            message = (
                f"category {category.value} can flow nowhere: its only sender and recipient "
                f"is {terms.senders[0]}"
            )
            faults.append(Fault(loc, message, AgreementFault.CATEGORY_NO_FLOW))
        # DESIGN §9: an empty list would open the category to everyone at the recipient. Terms
        # already held keep it (a sensitive category then opens to nobody, contracts.policy).
        if not terms.data_roles and (drafting or category in SENSITIVE_CATEGORIES):
            faults.append(
                Fault(
                    (*loc, "data_roles"),
                    _no_data_roles(category, terms),
                    AgreementFault.DATA_ROLES_MISSING,
                )
            )
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        message = (
            f"valid_until ({rfc3339(valid_until)}) must be after valid_from ({rfc3339(valid_from)})"
        )
        faults.append(Fault(("valid_until",), message, AgreementFault.VALIDITY_ORDER))
    if break_glass and legal_basis is not None and legal_basis != LegalBasis.VITAL_INTEREST:
        message = (
            f"break-glass access needs legal_basis vital_interest; this agreement rests on "
            f"{legal_basis.value}"
        )
        faults.append(Fault(("break_glass",), message, AgreementFault.BREAK_GLASS_BASIS))
    return faults


def validate_terms(data: object, *, known_agencies: Collection[str]) -> AgreementTerms:
    """Agreement terms from a request, checked against the rules and the federation directory.

    ``known_agencies`` are the agency slugs of the current directory. Raises
    :class:`AgreementInvalid` listing every fault: the shape of each field, categories
    outside the vocabulary, senders or recipients who are not parties, categories without
    named data roles (DESIGN §9), ``valid_until`` not after ``valid_from``,
    parties unknown to the directory, break-glass without vital interest. ``data`` is the
    request body as parsed JSON, whatever its shape (anything but an object is a fault).
    """
    raw: Mapping[str, Any]
    if isinstance(data, AgreementTerms):
        raw = data.model_dump(mode="json")
    elif isinstance(data, Mapping):
        raw = data
    else:
        raise AgreementInvalid([Fault((), "must be a JSON object", "model_type")])
    values, faults = parse_fields(AgreementTerms, raw, skip=frozenset({"categories"}))
    categories, category_faults = _parse_categories(raw)
    faults.extend(category_faults)
    faults.extend(
        _rule_faults(
            parties=values.get("parties"),
            categories=categories,
            valid_from=values.get("valid_from"),
            valid_until=values.get("valid_until"),
            # Absent means the default; present but malformed means unknown (already a fault).
            legal_basis=values.get("legal_basis") if "legal_basis" in raw else LegalBasis.CONSENT,
            break_glass=values.get("break_glass"),
            known_agencies=known_agencies,
            drafting=True,
        )
    )
    if faults:
        raise AgreementInvalid(faults)
    try:
        return AgreementTerms.model_validate(raw)
    except ValidationError as error:  # pragma: no cover - the checks above are the same rules
        raise AgreementInvalid(faults_from_validation_error(error)) from None


def break_glass_allowed(terms: AgreementTerms) -> bool:
    """Whether a focal point may open a withheld category under these terms (DESIGN §6)."""
    return terms.break_glass and terms.legal_basis == LegalBasis.VITAL_INTEREST


# --- warnings about terms already held -----------------------------------------------------


class TermsWarning(_Frozen):
    """What is wrong with terms a node holds but would refuse to draft today (DESIGN §9).

    The agreement keeps working as signed; the warning tells its parties what an amendment
    should fix. ``code`` is stable for clients, ``message`` is for a focal point.
    """

    code: str
    category: Category
    message: str


def terms_warnings(terms: AgreementTerms) -> tuple[TermsWarning, ...]:
    """Warnings for terms signed before every category had to name its data roles: one per
    category with none, in vocabulary order; empty for terms drafted under today's rules."""
    warnings: list[TermsWarning] = []
    for category in Category:
        category_terms = terms.categories.get(category)
        if category_terms is None or category_terms.data_roles:
            continue
        recipients = ", ".join(sorted(set(category_terms.recipients)))
        who = (
            f"nobody at {recipients} may read {category.value}, a sensitive category"
            if category in SENSITIVE_CATEGORIES
            else f"everyone at {recipients} who reads referrals may read {category.value}"
        )
        warnings.append(
            TermsWarning(
                code=AgreementFault.DATA_ROLES_MISSING.value,
                category=category,
                message=(
                    f"category {category.value} names no data roles, so {who}; amend the "
                    f"agreement to name them (for example {_example_role(category)})"
                ),
            )
        )
    return tuple(warnings)


# --- canonical form -----------------------------------------------------------------------


class AgreementRef(_Frozen):
    """An agreement version, as envelope headers cite it (DESIGN §4: agreement id and version)."""

    id: AgreementId
    version: int = Field(ge=1)

    def __str__(self) -> str:
        return f"{short_id(self.id)} v{self.version}"


def short_id(value: str) -> str:
    """The first characters of an id, as people quote it ("agreement 3a5c0e1f…")."""
    return value if len(value) <= 8 else f"{value[:8]}…"


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; fractional seconds only when there are any."""
    utc = value.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, BaseModel):
        return {name: _jsonable(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Mapping):
        return {str(_jsonable(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | set | frozenset):
        # Every list in the terms is a set of names: order and repeats carry no meaning.
        return sorted({_jsonable(v) for v in value})
    return value


def canonical(
    terms: AgreementTerms,
    *,
    agreement: AgreementRef | None = None,
    supersedes: AgreementRef | None = None,
) -> dict[str, Any]:
    """The JSON object the parties sign: every term, defaults included, so nothing is implied.

    Times are RFC 3339 UTC strings with ``Z``; lists are sorted sets. Key order does not
    matter: the signed bytes are its RFC 8785 form. Given ``agreement`` (and ``supersedes``
    for an amendment), the object also names which agreement version it is, so a signature on
    one agreement cannot be replayed onto another with the same terms.
    """
    document: dict[str, Any] = _jsonable(terms)
    if agreement is not None:
        document["agreement"] = {"id": agreement.id, "version": agreement.version}
    if supersedes is not None:
        document["supersedes"] = {"id": supersedes.id, "version": supersedes.version}
    return document


def digest(
    terms: AgreementTerms,
    *,
    agreement: AgreementRef | None = None,
    supersedes: AgreementRef | None = None,
) -> str:
    """Hex SHA-256 of the RFC 8785 form of :func:`canonical`: what every signature covers."""
    return canonical_digest(canonical(terms, agreement=agreement, supersedes=supersedes))


# --- lifecycle ----------------------------------------------------------------------------


class Signature(_Frozen):
    """A party's signature over the agreement digest, as published (DESIGN §5).

    ``value`` is base64url without padding; verification with the party's key from the
    directory is the caller's job, before :func:`sign`.
    """

    agency: AgencySlug
    kid: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    alg: Literal["EdDSA"] = "EdDSA"
    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$")]


class SignedDigest(_Frozen):
    """A signature together with the digest it covers and when it was recorded."""

    signature: Signature
    digest: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    signed_at: UtcDatetime


class HistoryEntry(_Frozen):
    at: UtcDatetime
    action: str
    by: AgencySlug | None = None
    status: AgreementStatus
    detail: str | None = None


class AgreementState(_Frozen):
    """One version of an agreement and where it stands. Transitions return a new state.

    ``status`` is the stored status; ask :func:`effective_status` for the status at a time.
    """

    id: AgreementId
    version: int = Field(default=1, ge=1)
    terms: AgreementTerms
    status: AgreementStatus = AgreementStatus.DRAFT
    supersedes: AgreementRef | None = None
    superseded_by: AgreementRef | None = None
    signatures: tuple[SignedDigest, ...] = ()
    #: Every party that suspended it; it is active again only once each has resumed.
    suspended_by: tuple[AgencySlug, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    @property
    def ref(self) -> AgreementRef:
        return AgreementRef(id=self.id, version=self.version)

    def canonical(self) -> dict[str, Any]:
        """The signed text of this version (terms, id and version, and what it supersedes)."""
        return canonical(self.terms, agreement=self.ref, supersedes=self.supersedes)

    @property
    def digest(self) -> str:
        return canonical_digest(self.canonical())

    def current_signatures(self) -> tuple[Signature, ...]:
        """The signatures over the current text, as ``GET /v1/agreements/{id}`` lists them."""
        current = self.digest
        return tuple(s.signature for s in self.signatures if s.digest == current)

    def unsigned_parties(self) -> tuple[str, ...]:
        """Parties that have not yet signed the current text."""
        signed = {s.agency for s in self.current_signatures()}
        return tuple(p for p in sorted(set(self.terms.parties)) if p not in signed)

    def is_party(self, agency: str) -> bool:
        return agency in self.terms.parties


def effective_status(state: AgreementState, now: datetime) -> AgreementStatus:
    """The status at ``now``: ``expired`` once ``valid_until`` has passed, ``not_yet_valid``
    when every party has signed but ``valid_from`` is still ahead.

    A draft stays a draft past its dates (it can still be revised); terminated and superseded
    are final whatever the dates say.
    """
    stored = state.status
    if stored in FINAL_STATUSES or stored == AgreementStatus.DRAFT:
        return stored
    if now >= state.terms.valid_until:
        return AgreementStatus.EXPIRED
    if stored == AgreementStatus.ACTIVE and now < state.terms.valid_from:
        return AgreementStatus.NOT_YET_VALID
    return stored


def _require_party(state: AgreementState, agency: str) -> None:
    if not state.is_party(agency):
        raise NotAParty(agency, str(state.ref))


def _require(
    state: AgreementState, action: str, now: datetime, allowed: Collection[AgreementStatus]
) -> AgreementStatus:
    status = effective_status(state, now)
    if status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise InvalidTransition(
            action,
            status.value,
            f"cannot {action} agreement {state.ref}: it is {status.value} (allowed when {names})",
        )
    return status


def _moved(
    state: AgreementState,
    *,
    action: str,
    at: datetime,
    by: str | None,
    detail: str | None = None,
    **update: Any,
) -> AgreementState:
    status = update.get("status", state.status)
    entry = HistoryEntry(at=at, action=action, by=by, status=status, detail=detail)
    return state.model_copy(update={**update, "history": (*state.history, entry)})


def new_draft(
    agreement_id: str,
    terms: AgreementTerms,
    *,
    by: str,
    at: datetime,
    version: int = 1,
    supersedes: AgreementRef | None = None,
) -> AgreementState:
    """A new draft by ``by``, who must be one of its parties: no agency writes terms for others."""
    state = AgreementState(id=agreement_id, version=version, terms=terms, supersedes=supersedes)
    _require_party(state, by)
    return _moved(state, action="draft", at=at, by=by)


def revise(
    state: AgreementState, terms: AgreementTerms, *, by: str, at: datetime
) -> AgreementState:
    """New terms for a draft or a proposal. A draft is revised in place. A proposal becomes the
    next version, a new draft: the other parties hold the proposed version and a held version
    never changes text, and signatures on the old text do not carry over."""
    _require(state, "revise", at, {AgreementStatus.DRAFT, AgreementStatus.PROPOSED})
    if by not in terms.parties:
        raise NotAParty(by, str(state.ref))
    if state.status == AgreementStatus.PROPOSED:
        # The other parties hold the proposed text under this id and version, and no message
        # ever rewrites a version a node holds: new text after a proposal is the next version.
        return new_draft(
            state.id, terms, by=by, at=at, version=state.version + 1, supersedes=state.supersedes
        )
    revised = state.model_copy(update={"terms": terms})
    return _moved(
        revised,
        action="revise",
        at=at,
        by=by,
        detail=revised.digest,
        status=AgreementStatus.DRAFT,
        signatures=(),
    )


def propose(state: AgreementState, *, by: str, at: datetime) -> AgreementState:
    """Send the draft to every party for signature (``POST /v1/agreements/{id}/propose``)."""
    _require(state, "propose", at, {AgreementStatus.DRAFT})
    _require_party(state, by)
    if at >= state.terms.valid_until:
        raise InvalidTransition(
            "propose",
            state.status.value,
            f"cannot propose agreement {state.ref}: its valid_until "
            f"({rfc3339(state.terms.valid_until)}) has passed",
        )
    return _moved(
        state, action="propose", at=at, by=by, detail=state.digest, status=AgreementStatus.PROPOSED
    )


def sign(
    state: AgreementState, signature: Signature, *, digest: str, at: datetime
) -> AgreementState:
    """Record a party's (already verified) signature over ``digest``.

    Refused with :class:`NotAParty` for a non-party and :class:`StaleDigest` when ``digest`` is
    not the current text's. A party signing again (a rotated key) replaces its signature. When
    every party has signed the current digest the agreement becomes ``active`` (DESIGN §5).
    """
    _require(state, "sign", at, {AgreementStatus.PROPOSED})
    _require_party(state, signature.agency)
    current = state.digest
    if digest != current:
        raise StaleDigest(signature.agency, digest, current)
    record = SignedDigest(signature=signature, digest=current, signed_at=at)
    others = tuple(s for s in state.signatures if s.signature.agency != signature.agency)
    signed = _moved(
        state,
        action="sign",
        at=at,
        by=signature.agency,
        detail=f"kid {signature.kid}",
        signatures=(*others, record),
    )
    if signed.unsigned_parties():
        return signed
    return _moved(
        signed, action="activate", at=at, by=None, detail=current, status=AgreementStatus.ACTIVE
    )


_IN_FORCE = {AgreementStatus.ACTIVE, AgreementStatus.NOT_YET_VALID, AgreementStatus.SUSPENDED}


def suspend(state: AgreementState, *, by: str, at: datetime, reason: str) -> AgreementState:
    """Any party may suspend, at once and alone: a party that doubts the data is safe must be
    able to stop the flow without waiting for the others. No disclosure is allowed meanwhile."""
    _require(state, "suspend", at, _IN_FORCE)
    _require_party(state, by)
    if by in state.suspended_by:
        raise InvalidTransition(
            "suspend", state.status.value, f"{by} has already suspended agreement {state.ref}"
        )
    return _moved(
        state,
        action="suspend",
        at=at,
        by=by,
        detail=reason,
        status=AgreementStatus.SUSPENDED,
        suspended_by=(*state.suspended_by, by),
    )


def resume(state: AgreementState, *, by: str, at: datetime) -> AgreementState:
    """Lift ``by``'s suspension. Only the party that suspended can lift its own suspension, and
    the agreement is active again only when no party's suspension remains."""
    _require(state, "resume", at, {AgreementStatus.SUSPENDED})
    _require_party(state, by)
    if by not in state.suspended_by:
        holders = ", ".join(state.suspended_by)
        raise InvalidTransition(
            "resume",
            state.status.value,
            f"{by} did not suspend agreement {state.ref}; only {holders} can resume it",
        )
    remaining = tuple(a for a in state.suspended_by if a != by)
    status = AgreementStatus.SUSPENDED if remaining else AgreementStatus.ACTIVE
    return _moved(state, action="resume", at=at, by=by, status=status, suspended_by=remaining)


def terminate(state: AgreementState, *, by: str, at: datetime, reason: str) -> AgreementState:
    """Any party may end the agreement (or abandon a draft or proposal); final."""
    _require(
        state,
        "terminate",
        at,
        {AgreementStatus.DRAFT, AgreementStatus.PROPOSED, *_IN_FORCE},
    )
    _require_party(state, by)
    return _moved(
        state,
        action="terminate",
        at=at,
        by=by,
        detail=reason,
        status=AgreementStatus.TERMINATED,
        suspended_by=(),
    )


def expire(state: AgreementState, *, at: datetime) -> AgreementState:
    """Store ``expired`` once ``valid_until`` has passed (the deadline sweep records it)."""
    _require(state, "expire", at, {AgreementStatus.EXPIRED})
    if state.status == AgreementStatus.EXPIRED:
        return state
    return _moved(state, action="expire", at=at, by=None, status=AgreementStatus.EXPIRED)


def amend(state: AgreementState, terms: AgreementTerms, *, by: str, at: datetime) -> AgreementState:
    """An amendment: the next version of the same agreement, a draft that supersedes this one.

    This version stays in force until every party has signed the amendment; then
    :func:`supersede` retires it. Nothing is ever edited once signed (DESIGN §5).
    """
    _require(state, "amend", at, _IN_FORCE)
    _require_party(state, by)
    return new_draft(state.id, terms, by=by, at=at, version=state.version + 1, supersedes=state.ref)


def supersede(state: AgreementState, *, successor: AgreementState, at: datetime) -> AgreementState:
    """Retire ``state`` once its amendment ``successor`` is active and signed by every party
    of ``state``."""
    _require(state, "supersede", at, {*_IN_FORCE, AgreementStatus.EXPIRED})
    if successor.supersedes != state.ref or successor.status != AgreementStatus.ACTIVE:
        raise InvalidTransition(
            "supersede",
            state.status.value,
            f"agreement {successor.ref} does not supersede {state.ref}, or is not active yet",
        )
    signed = {s.agency for s in successor.current_signatures()}
    missing = sorted(set(state.terms.parties) - signed)
    if missing:
        # Otherwise the parties of a new text could retire terms others signed without them.
        raise InvalidTransition(
            "supersede",
            state.status.value,
            f"agreement {successor.ref} retires {state.ref} only once every party of "
            f"{state.ref} has signed it; not signed by {', '.join(missing)}",
        )
    return _moved(
        state,
        action="supersede",
        at=at,
        by=None,
        detail=str(successor.ref),
        status=AgreementStatus.SUPERSEDED,
        superseded_by=successor.ref,
        suspended_by=(),
    )


# --- messages from other nodes ------------------------------------------------------------


def proposal_faults(
    incoming: AgreementState,
    *,
    sender: str,
    recipient: str,
    held: AgreementState | None,
    latest: AgreementState | None,
) -> list[Fault]:
    """Why a node refuses an agreement version another node sent (``agreement.proposed`` or
    ``agreement.signed``): every reason, empty when it may be held.

    ``held`` is the recipient's copy of the same id and version, ``latest`` its newest copy of
    any version of the id. Only a party speaks for an agreement: of the version already held,
    or, for an id never seen, of the text it proposes. A held version is never rewritten by a
    message: other text under a held id and version is refused, whatever its status.
    """
    faults: list[Fault] = []
    ref = str(incoming.ref)
    if not incoming.is_party(sender):
        faults.append(Fault((), f"{sender} is not a party to agreement {ref}", "sender_not_party"))
    if not incoming.is_party(recipient):
        faults.append(
            Fault(
                (), f"agreement {ref} does not name {recipient} as a party", "recipient_not_party"
            )
        )
    if held is not None and held.digest != incoming.digest:
        faults.append(
            Fault(
                (),
                f"agreement {ref} is held here with other text (digest {held.digest[:12]}…); "
                "a message never replaces a held version: new text is a new version",
                "held_version_differs",
            )
        )
    elif held is None and latest is not None and not latest.is_party(sender):
        faults.append(
            Fault(
                (),
                f"{sender} is not a party to agreement {latest.ref} held here; only its parties "
                "may propose a new version of it",
                "sender_not_party_of_held_version",
            )
        )
    return faults


def change_faults(held: AgreementState, *, sender: str, by: str) -> list[Fault]:
    """Why a node refuses a suspension, resumption or termination another node relayed."""
    faults: list[Fault] = []
    if by != sender:
        faults.append(
            Fault(
                (),
                f"{sender} relayed a decision by {by}: a node speaks only for its own",
                "not_own_decision",
            )
        )
    if not held.is_party(sender):
        faults.append(
            Fault((), f"{sender} is not a party to agreement {held.ref}", "sender_not_party")
        )
    return faults
