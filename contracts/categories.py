"""Data categories: the fixed vocabulary every agreement, consent, referral and SOP stage names.

DESIGN §1: data about a person moves between agencies category by category, each sealed on
its own and each readable only by the data roles an agreement names for it. Every category has
a pydantic schema, so what a caseworker enters is the same shape at every node; the schemas
forbid unknown fields, because a field nobody agreed to share is a field that should not travel.


Codes used throughout: countries as ISO 3166-1 alpha-3 (the code of ICAO 9303 travel documents
and of UNHCR registration; Kosovo as ``XKX``, as UNHCR and the EU use it), languages as
BCP 47 tags (``sq``, ``sr-Latn``), currencies as ISO 4217, occupations as ISCO-08.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from contracts.agencies import AgencySlug
from contracts.faults import Fault, FaultsError, faults_from_validation_error


class Category(StrEnum):
    """The data categories of DESIGN §1. Renaming one breaks every signed agreement."""

    IDENTITY = "identity"
    CONTACT = "contact"
    DOCUMENTS = "documents"
    ASYLUM_HISTORY = "asylum_history"
    FAMILY = "family"
    SPECIFIC_NEEDS = "specific_needs"
    HEALTH = "health"
    PROTECTION = "protection"
    SKILLS = "skills"
    RETURN_PLAN = "return_plan"
    REINTEGRATION = "reintegration"
    MONITORING = "monitoring"
    BIOMETRICS = "biometrics"


SENSITIVE_CATEGORIES: frozenset[Category] = frozenset(
    {Category.HEALTH, Category.PROTECTION, Category.BIOMETRICS}
)
"""DESIGN §9: categories whose disclosure can itself endanger the person. Envelopes seal them
with the post-quantum hybrid whatever the agreement says (DESIGN §4), the owning agency opens
them only to their own data roles (``contracts.case_access``), and they never go to the
person's own state. ``biometrics`` is the most restricted: a fingerprint cannot be changed
once leaked, so no other data role opens it."""

PROTECTION_SENSITIVE_FACTS: Mapping[Category, tuple[str, ...]] = {
    Category.SPECIFIC_NEEDS: (
        "trafficking_victim",
        "survivor_of_violence",
        "mental_health_condition",
    ),
    Category.IDENTITY: ("ethnic_origin",),
}
"""Facts that lived in ``specific_needs`` and ``identity`` until DESIGN §9 moved them into
``protection`` under the same names (migration 0013 re-sealed stored data): what is held about
a trafficking victim, a survivor of violence or a minority is read only by protection roles."""

CATEGORY_NAMES: frozenset[str] = frozenset(c.value for c in Category)


def is_category(name: str) -> bool:
    """True when ``name`` is in the vocabulary of DESIGN §1."""
    return name in CATEGORY_NAMES


# --- shared field types -------------------------------------------------------------------

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 3166-1 alpha-3, upper case (``SRB``, ``NGA``, ``XKX``)."""

LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
"""BCP 47 language tag (``sq``, ``rom``, ``sr-Latn``)."""

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]

Sex = Literal["female", "male", "other", "unknown"]
CefrLevel = Literal["A1", "A2", "B1", "B2", "C1", "C2", "native"]


class _Schema(BaseModel):
    """Every category schema and sub-record refuses fields it does not declare."""

    model_config = ConfigDict(extra="forbid")


def _ordered(earlier: date | None, later: date | None) -> bool:
    return earlier is None or later is None or earlier <= later


# --- identity -----------------------------------------------------------------------------


class Names(_Schema):
    given_names: ShortText | None = None
    family_name: ShortText | None = None
    #: Aliases, earlier names and spellings on other documents: matching across agencies.
    other_names: list[ShortText] = Field(default_factory=list, max_length=20)
    #: The name as written in the person's own script (Cyrillic, Arabic, Tigrinya, ...).
    in_original_script: ShortText | None = None


class Identity(_Schema):
    """Who the person is: DESIGN §1 ``identity``."""

    names: Names | None = None
    date_of_birth: date | None = None
    #: Registration often records an estimated date (e.g. 1 January of the stated year).
    date_of_birth_estimated: bool | None = None
    place_of_birth: ShortText | None = None
    sex: Sex | None = None
    nationality: CountryCode | None = None
    other_nationalities: list[CountryCode] = Field(default_factory=list, max_length=5)
    #: Stateless persons may be unable to prove any nationality (roundtable: Roma, Ashkali).
    nationality_status: Literal["confirmed", "claimed", "undetermined", "stateless"] | None = None
    # No ethnic origin here: it is protection data (DESIGN §9; Roma, Ashkali and Egyptian
    # returnees to Kosovo were at risk for it), see :class:`Protection`.
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)


# --- contact ------------------------------------------------------------------------------


class Phone(_Schema):
    number: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
    """E.164, with the leading ``+``."""
    kind: Literal["mobile", "landline", "messaging_only"] | None = None


class Address(_Schema):
    lines: list[ShortText] = Field(default_factory=list, max_length=4)
    locality: ShortText | None = None
    region: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    country: CountryCode | None = None


class Contact(_Schema):
    """How to reach the person, and whether it is safe to."""

    phones: list[Phone] = Field(default_factory=list, max_length=5)
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    address: Address | None = None
    #: Where the person can be reached after return, if known.
    address_after_return: Address | None = None
    preferred_language: LanguageCode | None = None
    preferred_channel: Literal["phone", "sms", "email", "messaging_app", "in_person"] | None = None
    #: False when contact could expose the person (a trafficker holds the phone; the family must
    #: not know): agencies then contact only through the case manager.
    safe_to_contact: bool | None = None
    contact_through: ShortText | None = None


# --- documents ----------------------------------------------------------------------------


DocumentKind = Literal[
    "passport",
    "national_id",
    "birth_certificate",
    "civil_registration",
    "travel_document",
    "emergency_travel_document",
    "laissez_passer",
    "residence_permit",
    "asylum_seeker_card",
    "tolerated_stay_permit",
    "other",
]


class Document(_Schema):
    kind: DocumentKind
    number: Reference | None = None
    issuing_country: CountryCode | None = None
    issued_on: date | None = None
    expires_on: date | None = None
    status: Literal["valid", "expired", "lost", "retained_by_authority", "pending"] | None = None
    #: A document in the hands of an employer or a third party can signal trafficking.
    held_by: Literal["person", "authority", "agency", "third_party", "unknown"] | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if not _ordered(self.issued_on, self.expires_on):
            raise ValueError("expires_on is before issued_on")
        return self


class TravelDocumentRequest(_Schema):
    """A request to the origin authority, within the readmission agreement's time frame."""

    requested_from: AgencySlug | None = None
    requested_on: date | None = None
    status: Literal["not_requested", "requested", "issued", "refused"] | None = None
    decided_on: date | None = None


class Documents(_Schema):
    """Identity and travel documents (DESIGN §1 ``documents``)."""

    documents: list[Document] = Field(default_factory=list, max_length=30)
    identity_established: bool | None = None
    travel_document_request: TravelDocumentRequest | None = None


# --- asylum history -----------------------------------------------------------------------


class Appeal(_Schema):
    lodged_on: date | None = None
    instance: ShortText | None = None
    suspensive: bool | None = None
    status: Literal["pending", "rejected", "granted", "withdrawn"] | None = None
    decided_on: date | None = None


class AsylumClaim(_Schema):
    country: CountryCode
    lodged_on: date | None = None
    procedure: Literal["regular", "accelerated", "border", "dublin", "subsequent"] | None = None
    decision: (
        Literal[
            "pending",
            "rejected",
            "rejected_manifestly_unfounded",
            "inadmissible",
            "withdrawn",
            "refugee_status",
            "subsidiary_protection",
            "humanitarian_status",
        ]
        | None
    ) = None
    decided_on: date | None = None
    appeals: list[Appeal] = Field(default_factory=list, max_length=10)
    final: bool | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if not _ordered(self.lodged_on, self.decided_on):
            raise ValueError("decided_on is before lodged_on")
        return self


class ReturnOrder(_Schema):
    issued_on: date
    issued_by: ShortText | None = None
    #: EU Return Directive art. 7: a period for voluntary departure, normally 7 to 30 days.
    voluntary_departure_until: date | None = None
    entry_ban_until: date | None = None
    suspended: bool | None = None


class AsylumHistory(_Schema):
    """Claim, decision, appeal, return order (DESIGN §1 ``asylum_history``)."""

    claims: list[AsylumClaim] = Field(default_factory=list, max_length=10)
    return_order: ReturnOrder | None = None
    in_detention: bool | None = None
    arrived_in_host_country_on: date | None = None


# --- family -------------------------------------------------------------------------------


Relationship = Literal[
    "spouse",
    "partner",
    "child",
    "parent",
    "sibling",
    "grandparent",
    "grandchild",
    "other_relative",
    "customary_caregiver",
]


class FamilyMember(_Schema):
    relationship: Relationship
    names: Names | None = None
    date_of_birth: date | None = None
    location: (
        Literal["with_person", "host_country", "country_of_origin", "third_country", "unknown"]
        | None
    ) = None
    #: Whether the person agrees to be reunited or contacted; return to the family is not
    #: presumed to be in a child's best interests (roundtable, children section).
    contact_wished: bool | None = None
    #: The member's own case at an agency, when the family is processed together.
    case_ref: Reference | None = None


class Carer(_Schema):
    """A guardian, legal representative or case manager."""

    name: ShortText
    organisation: ShortText | None = None
    agency: AgencySlug | None = None
    country: CountryCode | None = None
    appointed_on: date | None = None
    appointed_by: ShortText | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")] | None = None


class FamilyTracing(_Schema):
    status: Literal["not_started", "in_progress", "located", "not_located", "closed"]
    by: ShortText | None = None
    requested_on: date | None = None


class Family(_Schema):
    """Family links, guardian, case manager (DESIGN §1; roundtable: a guardian in the host country,
    a guardian or legal representative consulted in the country of return, a case manager)."""

    members: list[FamilyMember] = Field(default_factory=list, max_length=50)
    guardian: Carer | None = None
    guardian_in_country_of_return: Carer | None = None
    legal_representative: Carer | None = None
    case_manager: Carer | None = None
    family_tracing: FamilyTracing | None = None


# --- specific needs -----------------------------------------------------------------------


class SpecificNeeds(_Schema):
    """The flags that drive SOP branches and the practical needs a receiving state or a
    transport escort may need (DESIGN §1, §9). Details stay in ``health`` and ``protection``:
    a flag tells an agency to take care, not what happened.

    Protection-sensitive facts (trafficking victim, survivor of violence, mental health) are
    not here: they are in :class:`Protection`, read only by protection roles (DESIGN §9).
    """

    child: bool | None = None
    unaccompanied: bool | None = None
    separated: bool | None = None
    stateless: bool | None = None
    at_risk_of_statelessness: bool | None = None
    disability: bool | None = None
    serious_illness: bool | None = None
    older_person: bool | None = None
    single_parent: bool | None = None
    pregnant: bool | None = None
    needs_escort: bool | None = None
    #: What travel and reception must provide for, without the diagnosis behind it.
    mobility: Literal["independent", "walking_aid", "wheelchair", "stretcher"] | None = None
    medical_escort: bool | None = None
    fit_to_travel: Literal["fit", "fit_with_medical_escort", "unfit", "not_assessed"] | None = None
    assessed_on: date | None = None
    assessed_by: AgencySlug | None = None


# --- health -------------------------------------------------------------------------------


class HealthCondition(_Schema):
    description: ShortText
    icd10: (
        Annotated[str, StringConstraints(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")] | None
    ) = None
    chronic: bool | None = None
    serious: bool | None = None
    #: Hardship commissions weigh serious illness; return planning needs continuity of care.
    treatment_available_in_origin: bool | None = None


class Health(_Schema):
    """Medical information: sensitive, read only by the data roles an agreement names."""

    conditions: list[HealthCondition] = Field(default_factory=list, max_length=30)
    medications: list[ShortText] = Field(default_factory=list, max_length=30)
    fit_to_travel: Literal["fit", "fit_with_medical_escort", "unfit", "not_assessed"] | None = None
    fit_to_travel_assessed_on: date | None = None
    pregnancy_weeks: Annotated[int, Field(ge=0, le=45)] | None = None
    psychosocial_support_needed: bool | None = None
    continuity_of_care: Text | None = None


# --- protection ---------------------------------------------------------------------------


Risk = Literal[
    "re_trafficking",
    "reprisal_by_traffickers",
    "threat_from_state_officials",
    "persecution",
    "family_violence",
    "community_violence",
    "sexual_and_gender_based_violence",
    "detention_on_return",
    "destitution",
    "internal_displacement",
    "other",
]


class RiskAssessment(_Schema):
    """Risk assessment before any return of a trafficked person (roundtable, trafficking)."""

    conducted_on: date
    conducted_by: AgencySlug | None = None
    risk_level: Literal["low", "medium", "high", "extreme"]
    risks: list[Risk] = Field(default_factory=list, max_length=20)
    return_safe: bool | None = None
    mitigation: Text | None = None


class BestInterestsDetermination(_Schema):
    """BID: mandatory before departure for an unaccompanied or separated child (CRC art. 3)."""

    status: Literal["pending", "in_progress", "completed"]
    decided_on: date | None = None
    decided_by: ShortText | None = None
    recommendation: (
        Literal[
            "return_to_family",
            "return_with_alternative_care",
            "stay_in_host_country",
            "third_country",
            "other",
        ]
        | None
    ) = None
    #: CRC art. 12: the child's views were heard and given due weight.
    child_views_heard: bool | None = None
    rationale: Text | None = None

    @model_validator(mode="after")
    def _completed_has_outcome(self) -> Self:
        if self.status == "completed" and (self.decided_on is None or self.recommendation is None):
            raise ValueError("a completed BID needs decided_on and recommendation")
        return self


class ProtectionNeedsAnalysis(_Schema):
    """Analysis of international protection needs before any return (roundtable)."""

    conducted_on: date
    conducted_by: AgencySlug | None = None
    needs_identified: bool
    recommendation: (
        Literal[
            "no_needs_identified", "refer_to_asylum_procedure", "subsequent_application", "other"
        ]
        | None
    ) = None
    rationale: Text | None = None


class TraffickingCase(_Schema):
    identified_on: date | None = None
    identified_by: ShortText | None = None
    forms_of_exploitation: list[
        Literal["sexual", "labour", "domestic_servitude", "begging", "criminal_activity", "other"]
    ] = Field(default_factory=list, max_length=6)
    reflection_period_until: date | None = None
    cooperating_with_authorities: bool | None = None
    compensation_claim: bool | None = None


class Protection(_Schema):
    """Risk assessments, BID, protection-needs analysis: the most restricted category (DESIGN §1).

    What a trafficking victim disclosed is held here and nowhere else; threats may come from
    state officials too, which is why ``threat_from_state_officials`` is a listed risk.
    """

    risk_assessments: list[RiskAssessment] = Field(default_factory=list, max_length=20)
    best_interests_determination: BestInterestsDetermination | None = None
    protection_needs_analysis: ProtectionNeedsAnalysis | None = None
    trafficking: TraffickingCase | None = None
    confidential_account: Text | None = None
    # DESIGN §9: the protection-sensitive facts. Each can endanger the person if it reaches the
    # wrong reader (threats may come from state officials), so they are held here and nowhere
    # else, as flags: SOP guards and risk assessments need to know, not the details.
    trafficking_victim: bool | None = None
    survivor_of_violence: bool | None = None
    mental_health_condition: bool | None = None
    #: As the person describes it (Roma, Ashkali, Egyptian): what post-return monitoring of
    #: minorities needs (roundtable, Kosovo).
    ethnic_origin: ShortText | None = None
    #: At risk on account of a political opinion, held or imputed (1951 Convention art. 1A(2)).
    #: The opinion itself is not recorded.
    political_opinion_at_risk: bool | None = None
    #: At risk on account of sexual orientation or gender identity (UNHCR Guidelines on
    #: International Protection No. 9). The orientation or identity itself is not recorded.
    sogi_at_risk: bool | None = None


# --- skills -------------------------------------------------------------------------------


class Education(_Schema):
    level: Literal["none", "primary", "secondary", "vocational", "tertiary", "other"]
    field: ShortText | None = None
    country: CountryCode | None = None
    completed: bool | None = None
    year: Annotated[int, Field(ge=1900, le=2200)] | None = None


class WorkExperience(_Schema):
    occupation: ShortText
    isco08: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,4}$")] | None = None
    country: CountryCode | None = None
    from_year: Annotated[int, Field(ge=1900, le=2200)] | None = None
    to_year: Annotated[int, Field(ge=1900, le=2200)] | None = None
    formal: bool | None = None

    @model_validator(mode="after")
    def _years_in_order(self) -> Self:
        if (
            self.from_year is not None
            and self.to_year is not None
            and self.to_year < self.from_year
        ):
            raise ValueError("to_year is before from_year")
        return self


class LanguageSkill(_Schema):
    language: LanguageCode
    level: CefrLevel | None = None


class Skills(_Schema):
    """Education, work history, languages: what ILO needs for employment and skills support."""

    education: list[Education] = Field(default_factory=list, max_length=20)
    work_history: list[WorkExperience] = Field(default_factory=list, max_length=30)
    languages: list[LanguageSkill] = Field(default_factory=list, max_length=20)
    certifications: list[ShortText] = Field(default_factory=list, max_length=20)
    desired_occupation: ShortText | None = None
    desired_training: ShortText | None = None


# --- return plan --------------------------------------------------------------------------


class Destination(_Schema):
    country: CountryCode
    region: ShortText | None = None
    locality: ShortText | None = None


class ReturnPlan(_Schema):
    """Destination, travel dates, escort (DESIGN §1 ``return_plan``)."""

    destination: Destination | None = None
    #: Recorded after counselling: the decision to return is the person's own (AVRR principle i).
    decision_recorded_on: date | None = None
    departure_on: date | None = None
    departure_point: ShortText | None = None
    arrival_point: ShortText | None = None
    travel_mode: Literal["air", "land", "sea"] | None = None
    escort: list[Literal["medical", "social", "child", "security"]] = Field(
        default_factory=list, max_length=4
    )
    temporary_accommodation: bool | None = None
    reception_arranged: bool | None = None
    special_arrangements: Text | None = None


# --- reintegration ------------------------------------------------------------------------


class Assistance(_Schema):
    kind: Literal[
        "pocket_money",
        "reinstallation_allowance",
        "business_start_up",
        "vocational_training",
        "job_placement",
        "housing",
        "medical",
        "psychosocial",
        "education",
        "legal",
        "community_project",
        "other",
    ]
    provider: AgencySlug | None = None
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    currency: CurrencyCode | None = None
    in_kind: bool | None = None
    status: Literal["planned", "delivered", "cancelled"] | None = None
    delivered_on: date | None = None

    @model_validator(mode="after")
    def _amount_has_currency(self) -> Self:
        if self.amount is not None and self.currency is None:
            raise ValueError("an amount needs a currency")
        return self


class Reintegration(_Schema):
    """Reintegration plan and assistance, including support for the receiving community."""

    plan_agreed_on: date | None = None
    plan_type: Literal["economic", "social", "psychosocial", "combined"] | None = None
    objectives: list[ShortText] = Field(default_factory=list, max_length=20)
    assistance: list[Assistance] = Field(default_factory=list, max_length=50)
    closed_on: date | None = None


# --- monitoring ---------------------------------------------------------------------------


MonitoringNeed = Literal[
    "shelter",
    "health",
    "education",
    "language_support",
    "documentation",
    "livelihood",
    "protection",
    "psychosocial",
    "legal",
    "other",
]


class Monitoring(_Schema):
    """Post-return findings, with the roundtable's two indicators of sustainable return.

    ``willing_to_remain`` is the first indicator; ``social_participation`` and
    ``meaningful_employment`` together the second. Field missions also found unmet education
    needs of child returnees who do not speak the language, and a risk of internal
    displacement for up to 75 % of returnees: both recorded here.
    """

    monitored_on: date | None = None
    monitored_by: AgencySlug | None = None
    method: Literal["arrival_interview", "home_visit", "phone", "field_mission"] | None = None
    location: ShortText | None = None
    willing_to_remain: bool | None = None
    social_participation: bool | None = None
    meaningful_employment: bool | None = None
    children_in_school: bool | None = None
    children_language_barrier: bool | None = None
    risk_of_internal_displacement: bool | None = None
    needs_identified: list[MonitoringNeed] = Field(default_factory=list, max_length=10)
    #: Monitoring refers returnees with needs to other agencies (DESIGN §1).
    referral_recommended_to: list[AgencySlug] = Field(default_factory=list, max_length=10)
    findings: Text | None = None
    next_visit_due: date | None = None


# --- biometrics ---------------------------------------------------------------------------


TemplateRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
"""The reference of a template in the capturing agency's biometric system (e.g. a BIMS or
national AFIS record id): the template itself stays there."""


class FingerprintRecord(_Schema):
    template_ref: TemplateRef
    fingers: Annotated[int, Field(ge=0, le=10)] | None = None
    quality: Literal["good", "acceptable", "poor"] | None = None


class TemplateRecord(_Schema):
    template_ref: TemplateRef
    quality: Literal["good", "acceptable", "poor"] | None = None


class Biometrics(_Schema):
    """References to biometric templates, never the images or templates themselves: the most
    restricted category (DESIGN §9). A fingerprint cannot be reissued once leaked, and a match
    against an origin state's database can expose a person who fled it."""

    captured_on: date | None = None
    captured_by: AgencySlug | None = None
    #: The system holding the templates (``BIMS``, ``Eurodac``, a national AFIS).
    system: ShortText | None = None
    fingerprints: FingerprintRecord | None = None
    iris: TemplateRecord | None = None
    face: TemplateRecord | None = None
    #: The consent (or the legal basis's reference) under which they were captured.
    consent_ref: Reference | None = None


SCHEMAS: Mapping[Category, type[BaseModel]] = {
    Category.IDENTITY: Identity,
    Category.CONTACT: Contact,
    Category.DOCUMENTS: Documents,
    Category.ASYLUM_HISTORY: AsylumHistory,
    Category.FAMILY: Family,
    Category.SPECIFIC_NEEDS: SpecificNeeds,
    Category.HEALTH: Health,
    Category.PROTECTION: Protection,
    Category.SKILLS: Skills,
    Category.RETURN_PLAN: ReturnPlan,
    Category.REINTEGRATION: Reintegration,
    Category.MONITORING: Monitoring,
    Category.BIOMETRICS: Biometrics,
}


class CategoryData(_Schema):
    """Data by category, each in its own schema: what a case holds, a referral carries and the
    API shows (a category left out is absent, not null)."""

    identity: Identity | None = None
    contact: Contact | None = None
    documents: Documents | None = None
    asylum_history: AsylumHistory | None = None
    family: Family | None = None
    specific_needs: SpecificNeeds | None = None
    health: Health | None = None
    protection: Protection | None = None
    skills: Skills | None = None
    return_plan: ReturnPlan | None = None
    reintegration: Reintegration | None = None
    monitoring: Monitoring | None = None
    biometrics: Biometrics | None = None

    def present(self) -> dict[str, dict[str, Any]]:
        """The categories given, as JSON values, each with only the fields given."""
        return self.model_dump(mode="json", exclude_unset=True)


class CategoryDataInvalid(FaultsError):
    """Category data that does not fit its schema; ``faults`` names every bad field.

    Locations start with the category name (``("identity", "date_of_birth")``) so a request
    carrying several categories can report them all together.
    """

    def __init__(self, category: str, faults: list[Fault]) -> None:
        self.category = category
        super().__init__(faults)


def validate_category_data(category: Category | str, data: object) -> dict[str, Any]:
    """The data of one category, checked against its schema and normalised to JSON values.

    Returns only the fields the caller supplied (dates as ISO 8601 strings), so what is sealed
    is what was entered. Raises :class:`CategoryDataInvalid` listing every fault.
    """
    if not is_category(str(category)):
        allowed = ", ".join(sorted(CATEGORY_NAMES))
        message = f"{category} is not a data category; the vocabulary is: {allowed}"
        raise CategoryDataInvalid(str(category), [Fault((str(category),), message, "category")])
    cat = Category(str(category))
    if not isinstance(data, Mapping):
        raise CategoryDataInvalid(cat, [Fault((cat.value,), "must be a JSON object", "model_type")])
    try:
        model = SCHEMAS[cat].model_validate(data)
    except ValidationError as error:
        faults = [
            Fault(f.loc, f"is not a field of category {cat.value}", f.code)
            if f.code == "extra_forbidden"
            else f
            for f in faults_from_validation_error(error, (cat.value,))
        ]
        raise CategoryDataInvalid(cat, faults) from None
    return model.model_dump(mode="json", exclude_unset=True)


def validate_case_data(data: object) -> dict[str, dict[str, Any]]:
    """A ``category -> object`` mapping (the ``data`` of a case), every category checked.

    Raises :class:`CategoryDataInvalid` (``category`` ``"*"``) with the faults of all categories.
    """
    if not isinstance(data, Mapping):
        raise CategoryDataInvalid("*", [Fault((), "must be a JSON object", "model_type")])
    out: dict[str, dict[str, Any]] = {}
    faults: list[Fault] = []
    for name, value in data.items():
        try:
            out[str(name)] = validate_category_data(str(name), value)
        except CategoryDataInvalid as error:
            faults.extend(error.faults)
    if faults:
        raise CategoryDataInvalid("*", faults)
    return out
