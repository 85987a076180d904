"""The mandatory protections (DESIGN §1, §7, §9): who each protects, which stages they must have
completed, and before which stages. Static verification (:mod:`sop.verify`) proves an SOP
cannot bypass them; the runtime guard (:mod:`sop.safeguards`) re-checks them on the history of
each journey before a departure or a forced removal, whatever the SOP says."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sop.schema import StageKind


@dataclass(frozen=True)
class Protection:
    """A mandatory protection: who it protects, what they must pass, before what."""

    name: str
    who: str
    assume: Mapping[str, bool]
    requires: frozenset[StageKind]
    before: frozenset[StageKind]
    source: str


PROTECTIONS: tuple[Protection, ...] = (
    Protection(
        "unaccompanied-child-bid",
        "an unaccompanied child",
        {"unaccompanied": True},
        frozenset({StageKind.BID}),
        frozenset({StageKind.DEPARTURE}),
        "CRC art. 3; UNHCR/IOM/ILO roundtable 2009: BID before the return of a child",
    ),
    Protection(
        "separated-child-bid",
        "a separated child",
        {"separated": True},
        frozenset({StageKind.BID}),
        frozenset({StageKind.DEPARTURE}),
        "CRC art. 3; UNHCR/IOM/ILO roundtable 2009: BID before the return of a child",
    ),
    Protection(
        "trafficked-child-bid",
        "a trafficked child",
        {"is_child": True, "trafficking_victim": True},
        frozenset({StageKind.BID}),
        frozenset({StageKind.DEPARTURE}),
        "roundtable 2009: risk assessment and BID for trafficked children before return",
    ),
    Protection(
        "trafficking-victim-assessment",
        "a trafficking victim",
        {"trafficking_victim": True},
        frozenset({StageKind.TRAFFICKING_RISK_ASSESSMENT, StageKind.PROTECTION_NEEDS_ANALYSIS}),
        frozenset({StageKind.DEPARTURE}),
        "roundtable 2009: risk assessment and protection-needs analysis before any return",
    ),
    Protection(
        "stateless-documentation",
        "a stateless person",
        {"stateless": True},
        frozenset({StageKind.STATELESSNESS_DOCUMENTATION}),
        frozenset({StageKind.TRAVEL_DOCUMENTS, StageKind.DEPARTURE}),
        "roundtable 2009: identity and nationality documents (UNHCR) before travel documents",
    ),
    Protection(
        "forced-removal-monitoring",
        "anyone",
        {},
        frozenset({StageKind.INDEPENDENT_MONITORING}),
        frozenset({StageKind.FORCED_REMOVAL}),
        "CoE Twenty Guidelines; EU Return Directive art. 8(6): forced return monitored",
    ),
)

KIND_WORDS = {
    StageKind.BID: "a best-interests determination",
    StageKind.TRAFFICKING_RISK_ASSESSMENT: "a trafficking risk assessment",
    StageKind.PROTECTION_NEEDS_ANALYSIS: "a protection-needs analysis",
    StageKind.STATELESSNESS_DOCUMENTATION: "statelessness documentation",
    StageKind.INDEPENDENT_MONITORING: "independent monitoring",
    StageKind.DEPARTURE: "departure",
    StageKind.TRAVEL_DOCUMENTS: "travel documents",
    StageKind.FORCED_REMOVAL: "a forced removal",
}


SAFEGUARD_KINDS: frozenset[StageKind] = frozenset().union(*(p.requires for p in PROTECTIONS))
"""Stages that are themselves a safeguard: a fact that changes while the journey is in one does
not interrupt it; the next safeguard follows when it ends."""

GUARDED_KINDS: frozenset[StageKind] = frozenset().union(*(p.before for p in PROTECTIONS))
