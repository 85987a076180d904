"""The case profile: the typed facts SOP guards read (DESIGN §6, and the pathways of §1).

Facts are personal data (a trafficking flag above all): sealed at rest with the case, read by
the owning agency's SOP engine, and never sent except inside a data category.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.categories import CountryCode

FreeMovementRegime = Literal["ecowas", "mercosur", "eu", "eac", "caricom"]
"""Regional free-movement regimes (roundtable: ECOWAS nationals, unsuccessful asylum-seekers
included, need no residence permit in another member state; MERCOSUR; the EU)."""

HostLanguageCommand = Literal["none", "basic", "good", "fluent"]
"""Hardship commissions weigh a *good command* of the host language: guards test
``host_language in ['good', 'fluent']``."""

ADULT_AGE = 18
"""CRC art. 1: a child is every human being below the age of eighteen years."""


class CaseProfile(BaseModel):
    """The facts SOP guards read (DESIGN §6, §1 pathways); every one optional, unknown = null.

    Guards name these as top-level CEL variables, so the names are part of the SOP contract.
    A profile is personal data (a trafficking flag above all): sealed at rest, read by the
    owning agency's SOP engine, never sent except inside a category.
    """

    model_config = ConfigDict(extra="forbid")

    date_of_birth: date | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    is_child: bool | None = None
    unaccompanied: bool | None = None
    separated: bool | None = None
    trafficking_victim: bool | None = None
    stateless: bool | None = None
    nationality: CountryCode | None = None
    country_of_origin: CountryCode | None = None
    serious_illness: bool | None = None
    disability: bool | None = None
    # Regularization (e.g. Argentina 2004-2009): length of stay, work, contributions, record, age.
    years_in_host_country: Annotated[float, Field(ge=0, le=130)] | None = None
    proof_of_work: bool | None = None
    social_contributions: bool | None = None
    clean_criminal_record: bool | None = None
    # Hardship commissions: long stay, host language, children in school, serious illness.
    host_language: HostLanguageCommand | None = None
    children_in_school: bool | None = None
    # Legal migration channels.
    regional_free_movement: FreeMovementRegime | None = None
    skills_match: bool | None = None
    # Return logistics.
    has_travel_document: bool | None = None
    needs_escort: bool | None = None
    has_return_order: bool | None = None
    # Post-return monitoring: the roundtable's two indicators of sustainable return, as the
    # shipped SOP reads them (the ``monitoring`` category keeps the second one in two parts).
    willing_to_remain: bool | None = None
    social_and_economic_participation: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = []
        if (
            self.age is not None
            and self.is_child is not None
            and self.is_child != (self.age < ADULT_AGE)
        ):
            # Names the facts, not their values: error messages must not echo personal data.
            problems.append("is_child contradicts age (a child is under 18, CRC art. 1)")
        if self.is_child is False and (self.unaccompanied or self.separated):
            problems.append("unaccompanied and separated describe children, but is_child is false")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def with_derived(self, today: date) -> CaseProfile:
        """The profile with ``age`` and ``is_child`` filled in where they can be known.

        ``age`` comes from ``date_of_birth``; ``is_child`` from ``age``, or is true for an
        unaccompanied or separated person whose age is unknown: until the age is assessed the
        protections for children apply (UNHCR guidelines on unaccompanied children, benefit of
        the doubt). Facts the caller set are never overwritten.
        """
        update: dict[str, Any] = {}
        age = self.age
        if age is None and self.date_of_birth is not None:
            dob = self.date_of_birth
            age = today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
            if age >= 0:
                update["age"] = age
            else:
                age = None
        if self.is_child is None:
            if age is not None:
                update["is_child"] = age < ADULT_AGE
            elif self.unaccompanied or self.separated:
                update["is_child"] = True
        return self.model_copy(update=update) if update else self

    def facts(self, today: date) -> dict[str, Any]:
        """Every fact by name, derived facts included: the variables a guard evaluates against."""
        return self.with_derived(today).model_dump(mode="json")
