"""The data roles the field uses: who, inside an agency, reads which kind of data (DESIGN §3).

An agreement names, for every category, the data roles that may read it at the recipient
(DESIGN §9); an account holds data roles at its own agency. The names are free text in both,
so an agency may use a role of its own, but the roles below are the ones the shipped
agreements, the demo and the console's hints use, each with the work it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from contracts.categories import Category

__all__ = ["DATA_ROLE_DESCRIPTIONS", "SUGGESTED_DATA_ROLES", "FieldDataRole"]


class FieldDataRole(StrEnum):
    """Data roles of the agencies that work the return of non-refugees (DESIGN §1, §3)."""

    COUNSELLOR = "counsellor"
    PROTECTION_OFFICER = "protection_officer"
    #: Mexico's child protection officers are the roundtable's model of a trained focal point
    #: for unaccompanied children: BID, guardian, family tracing.
    CHILD_PROTECTION_OFFICER = "child_protection_officer"
    MEDICAL = "medical"
    #: Appeals, subsequent applications, and the legal assistance trafficked persons need for
    #: justice and compensation.
    LEGAL_COUNSEL = "legal_counsel"
    #: Reintegration plans, skills and employment (IOM, ILO), and post-return monitoring.
    REINTEGRATION_OFFICER = "reintegration_officer"
    #: The only role that opens biometrics (DESIGN §9: the most restricted category).
    BIOMETRICS_OFFICER = "biometrics_officer"


DATA_ROLE_DESCRIPTIONS: Mapping[FieldDataRole, str] = {
    FieldDataRole.COUNSELLOR: "counselling and case work: identity, contact, plans",
    FieldDataRole.PROTECTION_OFFICER: "risk assessments, protection-needs analysis, what a "
    "trafficking victim disclosed",
    FieldDataRole.CHILD_PROTECTION_OFFICER: "best-interests determination, guardianship and "
    "family tracing for children",
    FieldDataRole.MEDICAL: "medical information and fitness to travel",
    FieldDataRole.LEGAL_COUNSEL: "asylum history, appeals and legal assistance",
    FieldDataRole.REINTEGRATION_OFFICER: "reintegration plans, skills, employment and "
    "post-return monitoring",
    FieldDataRole.BIOMETRICS_OFFICER: "biometric template references, and nothing else",
}

SUGGESTED_DATA_ROLES: Mapping[Category, tuple[FieldDataRole, ...]] = {
    Category.IDENTITY: (FieldDataRole.COUNSELLOR,),
    Category.CONTACT: (FieldDataRole.COUNSELLOR,),
    Category.DOCUMENTS: (FieldDataRole.COUNSELLOR, FieldDataRole.LEGAL_COUNSEL),
    Category.ASYLUM_HISTORY: (FieldDataRole.LEGAL_COUNSEL,),
    Category.FAMILY: (FieldDataRole.COUNSELLOR, FieldDataRole.CHILD_PROTECTION_OFFICER),
    Category.SPECIFIC_NEEDS: (FieldDataRole.COUNSELLOR, FieldDataRole.MEDICAL),
    Category.HEALTH: (FieldDataRole.MEDICAL,),
    Category.PROTECTION: (
        FieldDataRole.PROTECTION_OFFICER,
        FieldDataRole.CHILD_PROTECTION_OFFICER,
    ),
    Category.SKILLS: (FieldDataRole.REINTEGRATION_OFFICER,),
    Category.RETURN_PLAN: (FieldDataRole.COUNSELLOR,),
    Category.REINTEGRATION: (FieldDataRole.REINTEGRATION_OFFICER,),
    Category.MONITORING: (FieldDataRole.REINTEGRATION_OFFICER, FieldDataRole.PROTECTION_OFFICER),
    Category.BIOMETRICS: (FieldDataRole.BIOMETRICS_OFFICER,),
}
"""Who usually reads each category: the example a refused draft names, and the demo's terms."""
