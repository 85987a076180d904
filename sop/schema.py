"""The shape of an SOP definition (DESIGN §7), as pydantic models.

The schema checks structure only: names, types, unknown keys. Everything that needs the whole
definition (references, reachability, guards, the category vocabulary, deadlines, mandatory
protections) is checked by :mod:`sop.verify`, so that one pass can report *every* problem of a
definition with its line instead of stopping at the first.

Routing is data: an outcome names its next stage, or an ordered list of branches. The engine
takes the first branch whose own guard (``when`` on the branch) and whose target's entry
condition (``when`` on the stage) both hold, so a specific-needs stage states once, on itself,
whom it is for, and every stage that may route there simply lists it before the fallback.
A stage marked ``once`` (a regularization review, a hardship commission) is passed over once
the journey has completed it, so a negative decision's way back through counselling cannot
lead to the same decision again.

Stage ``kind`` tags name what a stage *is* (a departure, a best-interests determination, ...).
The mandatory-protection checks and the engine's callers rely on kinds, never on how a stage
id is spelled, so a programme may call its BID stage ``bid_child_protection`` and still be
checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
)

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""Stage ids, roles, outcomes, facts and parameters: lowercase snake_case, so they are valid
CEL identifiers and Mermaid/DOT node names."""

DefinitionId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]

PurposeSlug = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=64)
]
"""The purpose a stage's referral is made for (``avrr-counselling``); agreements and consents
name the same slugs (DESIGN §5)."""

SemVer = Annotated[
    str,
    StringConstraints(
        # semver.org 2.0.0, the recommended regular expression.
        pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
        r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
        r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
    ),
]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

FactType = Literal["bool", "int", "float", "string", "date", "list[string]"]

LegalBasis = Literal["consent", "vital_interest", "legal_obligation", "public_interest"]
"""Why a stage may process the person's data (DESIGN §5, §7); the covering agreement must rest
on the same basis. The names are those of ``contracts.agreements.LegalBasis``."""


class StageKind(StrEnum):
    """What a stage is, for checks that must not depend on stage ids.

    A closed list on purpose: a misspelt ``kind: departur`` must be an error, not a departure
    the protection checks silently fail to see.
    """

    PROFILING = "profiling"
    COUNSELLING = "counselling"
    BID = "bid"
    TRAFFICKING_RISK_ASSESSMENT = "trafficking_risk_assessment"
    PROTECTION_NEEDS_ANALYSIS = "protection_needs_analysis"
    STATELESSNESS_DOCUMENTATION = "statelessness_documentation"
    TRAVEL_DOCUMENTS = "travel_documents"
    DEPARTURE = "departure"
    RECEPTION = "reception"
    REINTEGRATION = "reintegration"
    EMPLOYMENT = "employment"
    POST_RETURN_MONITORING = "post_return_monitoring"
    ENFORCEMENT_REVIEW = "enforcement_review"
    INDEPENDENT_MONITORING = "independent_monitoring"
    FORCED_REMOVAL = "forced_removal"
    REGULARIZATION = "regularization"
    HARDSHIP_RECOMMENDATION = "hardship_recommendation"
    HARDSHIP_ENDORSEMENT = "hardship_endorsement"
    LABOUR_MARKET_ADVICE = "labour_market_advice"
    LEGAL_MIGRATION = "legal_migration"
    WITHDRAWAL = "withdrawal"
    CLOSURE = "closure"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FactSpec(_Model):
    """A case fact guards may read. ``nullable`` makes null a value rather than "unknown"."""

    type: FactType
    description: Text
    nullable: bool = Field(
        default=False,
        description=(
            "True when null is a meaningful value (e.g. no free-movement regime applies); "
            "otherwise null or absent means unknown and a guard that needs it fails closed."
        ),
    )


class ParamSpec(_Model):
    """A parameter a programme supplies (``params.min_years``); without a default it is required."""

    type: FactType
    description: Text
    default: bool | int | float | str | list[str] | None = None


class Branch(_Model):
    """One way out of an outcome: the target stage, and a guard that must hold to take it."""

    to: Name
    when: str | None = None


def _branches(value: Any) -> Any:
    """Accept ``next``, ``{to, when}`` or a list of either, in order of preference."""
    if isinstance(value, str | dict):
        value = [value]
    if isinstance(value, list):
        return [{"to": item} if isinstance(item, str) else item for item in value]
    return value


def _non_empty(value: tuple[Branch, ...]) -> tuple[Branch, ...]:
    # An after-validator, not ``min_length``: pydantic would also report the length of the
    # items that did validate when one of them does not, a second message for one mistake.
    if not value:
        raise ValueError("an outcome needs at least one next stage")
    return value


Branches = Annotated[tuple[Branch, ...], BeforeValidator(_branches), AfterValidator(_non_empty)]


def _kinds(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Stage(_Model):
    """A stage of a journey: who acts (``actor``), on what data (``needs``), for what purpose,
    by when (``due``), for whom (``when``), and where each outcome leads."""

    id: Name
    title: Text
    description: Text
    actor: Name | None = None
    needs: tuple[str, ...] = ()
    purpose: PurposeSlug | None = None
    due: str | None = None
    when: str | None = None
    outcomes: dict[Name, Branches] = Field(default_factory=dict)
    terminal: bool = False
    kind: Annotated[tuple[StageKind, ...], BeforeValidator(_kinds)] = ()
    records: tuple[Name, ...] = Field(
        default=(),
        description="Facts the actor must record when completing the stage (e.g. indicators).",
    )
    legal_basis: LegalBasis = Field(
        default="consent",
        description=(
            "What the stage's processing rests on; the agreement covering it must rest on the "
            "same. Under anything but consent, withdrawing consent does not end the journey."
        ),
    )
    decision: bool = Field(
        default=False,
        description=(
            "The outcome is a written decision (a best-interests determination, a risk "
            "assessment): recorded with who decided (decided_by) and its reference "
            "(decision_ref), and refused without them."
        ),
    )
    once: bool = Field(
        default=False,
        description=(
            "Decided once per journey: a branch to this stage is passed over once the journey "
            "has completed it, and the engine tries the next one. A refused regularization is "
            "not reviewed again on the same journey, so counselling cannot loop back to it."
        ),
    )
    owner_may_record: tuple[Name, ...] = Field(
        default=(),
        description=(
            "Outcomes of this stage the owning agency may record itself when the acting agency "
            "declined the referral or let it expire (issue 16): each one of the stage's own "
            "outcomes, and only ones that decide nothing the acting agency alone can decide."
        ),
    )


class Interrupt(_Model):
    """A safeguard that follows the facts (DESIGN §9): while ``when`` holds and the journey has
    not completed ``stage``, the journey is diverted there as soon as a fact changes, and
    leaving any stage leads there first."""

    when: str
    stage: Name


class Definition(_Model):
    """A versioned SOP. Journeys pin ``ref`` (``avrr-joint@2.1.0``) when they start."""

    id: DefinitionId
    version: SemVer
    title: Text
    description: Text
    roles: dict[Name, Text]
    facts: dict[Name, FactSpec] = Field(default_factory=dict)
    params: dict[Name, ParamSpec] = Field(default_factory=dict)
    start: Branches
    always: dict[Name, Branches] = Field(default_factory=dict)
    interrupts: tuple[Interrupt, ...] = Field(
        default=(),
        description="Protective stages the facts require, most urgent first (DESIGN §9).",
    )
    stages: tuple[Stage, ...]
    """At least one, which verification ensures (``start`` must name a stage)."""

    _by_id: dict[str, Stage] | None = PrivateAttr(default=None)
    _guards: Any = PrivateAttr(default=None)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy without the caches: an updated copy must not keep the original's stage index
        or guards (pydantic copies private attributes as they are)."""
        copy = super().model_copy(update=update, deep=deep)
        copy._by_id = None
        copy._guards = None
        return copy

    @property
    def stage_map(self) -> dict[str, Stage]:
        """Stages by id (the first of duplicate ids; the verifier reports duplicates)."""
        # Read from the private slot itself: pydantic's attribute lookup for a private attribute
        # costs a microsecond, and the verifier's search asks for the map ~10^5 times.
        private: dict[str, Any] = self.__pydantic_private__ or {}
        by_id: dict[str, Stage] | None = private.get("_by_id")
        if by_id is None:
            by_id = {}
            for stage in self.stages:
                by_id.setdefault(stage.id, stage)
            self._by_id = by_id
        return by_id

    def stage(self, stage_id: str) -> Stage:
        """The stage called ``stage_id``; ``KeyError`` if there is none."""
        return self.stage_map[stage_id]

    def outcomes_at(self, stage_id: str) -> dict[str, tuple[Branch, ...]]:
        """Every outcome that may be recorded at a stage: its own, then ``always`` ones.

        A terminal stage has none: the journey has ended, so even withdrawal has nothing left
        to stop (the consent cascade of DESIGN §5 still erases the data).
        """
        stage = self.stage(stage_id)
        if stage.terminal:
            return {}
        inherited = {name: b for name, b in self.always.items() if name not in stage.outcomes}
        return {**stage.outcomes, **inherited}
