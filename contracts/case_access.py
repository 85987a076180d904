"""Who may read (and so change) which part of a case at the agency that owns it.

DESIGN §6: ``GET /v1/cases/{id}`` returns the categories the caller's data roles allow and
lists the others as ``withheld``. Agreements decide what a *recipient* may read
(:func:`contracts.policy.readable_by_agreement`); this module is the owner's own rule, which no
agreement names, so it is fixed here, where it is easiest to read and to test.

The rule, for a principal of the owning agency:

1. Case data is for the people who work the case: a principal needs the role ``caseworker`` or
   ``focal_point`` (:data:`CASE_ROLES`) to read any of it. An admin manages the node, an
   auditor reads the audit log; neither needs a person's file to do so.
2. A category that is not sensitive is open to every case role: a caseworker counselling a
   person needs their identity, documents, asylum history, family, skills and plans.
3. A sensitive category (:data:`contracts.categories.SENSITIVE_CATEGORIES`) opens only to a
   principal who also holds its data role (:data:`RESTRICTED_CATEGORY_ROLES`): ``protection``
   to a ``protection_officer`` (risk assessments, BID, and what a trafficking victim disclosed,
   whose confidentiality the roundtable insists on: threats may come from state officials
   too; a ``child_protection_officer`` reads it too, for the BID), ``health`` to ``medical``
   staff (medical confidentiality), ``biometrics`` to a ``biometrics_officer`` and nobody else
   (the most restricted: a leaked fingerprint cannot be reissued). A sensitive category with
   no data role listed here opens to nobody: the rule fails closed, so adding a sensitive
   category without deciding who reads it hides it rather than exposing it.
4. Writing follows reading: a principal may replace only a category it may read. Nobody
   overwrites a protection record they cannot see, and nobody enters details they could not
   read back.

Profile facts (:class:`contracts.profile.CaseProfile`) are personal data too, and follow the
same rule fact by fact: each fact is readable exactly when the category that holds the same
information is (:data:`PROFILE_FACT_SOURCES`). ``serious_illness`` is a ``specific_needs``
flag, not a health detail: DESIGN §1 keeps such a flag where every case role sees it ("a flag
tells an agency to take care, not what happened"). ``trafficking_victim`` is, per DESIGN §9,
a protection-sensitive fact whose category record lives in ``protection``; the profile fact is
still mapped to ``specific_needs`` because mapping it to ``protection`` would also stop every
caseworker without a protection role from recording it (case creation, journey profile
patches), which the SOP's interrupts rely on. Mapping it there is all it takes to restrict it.

Reasons are written for a focal point reading the console: what is withheld, what would open
it, and whom to ask.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from contracts.categories import SENSITIVE_CATEGORIES, Category
from contracts.profile import CaseProfile

__all__ = [
    "CASE_ROLES",
    "PROFILE_FACT_SOURCES",
    "RESTRICTED_CATEGORY_ROLES",
    "Withheld",
    "WithheldCode",
    "WithheldFact",
    "category_access",
    "readable_in_own_case",
    "readable_profile_facts",
]

CASE_ROLES: frozenset[str] = frozenset({"caseworker", "focal_point"})
"""Agency roles (DESIGN §3) that work cases; ``auth.scopes.Role`` spells the same names."""

RESTRICTED_CATEGORY_ROLES: Mapping[Category, frozenset[str]] = {
    Category.PROTECTION: frozenset({"protection_officer", "child_protection_officer"}),
    Category.HEALTH: frozenset({"medical"}),
    Category.BIOMETRICS: frozenset({"biometrics_officer"}),
}
"""The data roles that open each sensitive category at the owning agency (DESIGN §3 names
``protection_officer`` and ``medical`` among the data roles; see ``contracts.data_roles``)."""

PROFILE_FACT_SOURCES: Mapping[str, Category] = {
    "date_of_birth": Category.IDENTITY,
    "age": Category.IDENTITY,
    "is_child": Category.IDENTITY,
    "nationality": Category.IDENTITY,
    "country_of_origin": Category.IDENTITY,
    # A free-movement regime follows from nationality (ECOWAS, MERCOSUR, the EU).
    "regional_free_movement": Category.IDENTITY,
    "unaccompanied": Category.SPECIFIC_NEEDS,
    "separated": Category.SPECIFIC_NEEDS,
    # DESIGN §9 holds the trafficking flag in protection; the profile fact stays readable by
    # every case role until the SOP side decides who records it (see the module doc).
    "trafficking_victim": Category.SPECIFIC_NEEDS,
    "stateless": Category.SPECIFIC_NEEDS,
    "serious_illness": Category.SPECIFIC_NEEDS,
    "disability": Category.SPECIFIC_NEEDS,
    "needs_escort": Category.SPECIFIC_NEEDS,
    "years_in_host_country": Category.ASYLUM_HISTORY,
    "has_return_order": Category.ASYLUM_HISTORY,
    # The record of the person's dealings with the host state's authorities.
    "clean_criminal_record": Category.ASYLUM_HISTORY,
    "proof_of_work": Category.SKILLS,
    "social_contributions": Category.SKILLS,
    "skills_match": Category.SKILLS,
    "host_language": Category.SKILLS,
    "children_in_school": Category.FAMILY,
    "has_travel_document": Category.DOCUMENTS,
    "willing_to_remain": Category.MONITORING,
    "social_and_economic_participation": Category.MONITORING,
}
"""The category that holds the same information as each profile fact (see the module doc)."""


class WithheldCode(StrEnum):
    """Stable codes of why something is withheld; clients match these, people read ``reason``."""

    CASE_ROLE_MISSING = "case_role_missing"
    DATA_ROLE_MISSING = "data_role_missing"
    NO_DATA_ROLE_NAMED = "no_data_role_named"
    FACT_UNCLASSIFIED = "fact_unclassified"


@dataclass(frozen=True, slots=True)
class Withheld:
    """A category the principal may not read, and why."""

    category: Category
    code: WithheldCode
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category.value, "code": self.code.value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class WithheldFact:
    """A profile fact the principal may not read, and why."""

    fact: str
    code: WithheldCode
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"fact": self.fact, "code": self.code.value, "reason": self.reason}


def _condition(
    category: Category, roles: Collection[str], data_roles: Collection[str]
) -> tuple[WithheldCode, str] | None:
    if CASE_ROLES.isdisjoint(roles):
        return (
            WithheldCode.CASE_ROLE_MISSING,
            f"reading case data needs the role {' or '.join(sorted(CASE_ROLES))} at the agency "
            "that holds the case",
        )
    if category not in SENSITIVE_CATEGORIES:
        return None
    needed = RESTRICTED_CATEGORY_ROLES.get(category, frozenset())
    if not needed:
        return (
            WithheldCode.NO_DATA_ROLE_NAMED,
            f"{category.value} is restricted and no data role may read it at this agency yet",
        )
    if needed.isdisjoint(data_roles):
        return (
            WithheldCode.DATA_ROLE_MISSING,
            f"reading {category.value} needs the data role {' or '.join(sorted(needed))}, which "
            "you do not hold; your agency's admin can grant it",
        )
    return None


def category_access(
    category: Category, *, roles: Collection[str], data_roles: Collection[str]
) -> Withheld | None:
    """``None`` when a principal holding ``roles`` and ``data_roles`` at the owning agency may
    read (and so replace) ``category``; otherwise what withholds it (rules in the module doc)."""
    found = _condition(category, roles, data_roles)
    return None if found is None else Withheld(category, *found)


def readable_in_own_case(
    categories: Iterable[Category], *, roles: Collection[str], data_roles: Collection[str]
) -> tuple[tuple[Category, ...], tuple[Withheld, ...]]:
    """The owning agency's own rule (module doc): ``(readable, withheld)`` among
    ``categories`` of its own case, in vocabulary order, each once. A recipient reads what a
    referral carries under :func:`contracts.policy.readable_by_agreement` instead."""
    readable: list[Category] = []
    withheld: list[Withheld] = []
    present = set(categories)
    for category in Category:
        if category not in present:
            continue
        refusal = category_access(category, roles=roles, data_roles=data_roles)
        if refusal is None:
            readable.append(category)
        else:
            withheld.append(refusal)
    return tuple(readable), tuple(withheld)


def readable_profile_facts(
    facts: Iterable[str],
    *,
    roles: Collection[str],
    data_roles: Collection[str],
    sources: Mapping[str, Category] = PROFILE_FACT_SOURCES,
) -> tuple[tuple[str, ...], tuple[WithheldFact, ...]]:
    """``(readable, withheld)`` among profile ``facts``, in the order of
    :class:`~contracts.profile.CaseProfile`. A fact with no source category is withheld:
    a fact added to the profile without deciding who reads it stays hidden."""
    readable: list[str] = []
    withheld: list[WithheldFact] = []
    wanted = set(facts)
    ordered = [f for f in CaseProfile.model_fields if f in wanted]
    ordered += sorted(wanted - set(ordered))
    for fact in ordered:
        source = sources.get(fact)
        if source is None:
            withheld.append(
                WithheldFact(
                    fact,
                    WithheldCode.FACT_UNCLASSIFIED,
                    f"profile fact {fact} is not yet assigned to a data category, so nobody "
                    "may read it",
                )
            )
            continue
        found = _condition(source, roles, data_roles)
        if found is None:
            readable.append(fact)
        else:
            code, condition = found
            withheld.append(WithheldFact(fact, code, f"{fact} is {source.value} data: {condition}"))
    return tuple(readable), tuple(withheld)
