"""Facts an SOP learns from what the acting agency sends back when it completes a stage.

DESIGN §1: post-return monitoring records the two indicators of sustainable return the 2009
roundtable found informative: the returnee's willingness to remain, and participation in social
life and meaningful employment. They arrive in the ``monitoring`` category and become the facts
the monitoring stage's guards read. An identity sent back with a nationality status settles
whether the nationality is in doubt (a refused travel document then leads to statelessness
documentation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROTECTION_FACTS = ("unaccompanied", "separated", "trafficking_victim", "stateless")
"""Facts a protection assessment may establish, wherever the sender keeps them: what a
trafficking victim disclosed travels as ``protection``, a child's situation as
``specific_needs``. They arrive late as often as not (DESIGN §9), and the journey follows."""


def facts_from_results(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The SOP facts that ``results`` (category → data) establish; the rest tell the SOP
    nothing."""
    facts: dict[str, Any] = {}
    for category in ("specific_needs", "protection"):
        data = results.get(category) or {}
        for fact in PROTECTION_FACTS:
            if isinstance(data.get(fact), bool):
                facts[fact] = data[fact]
    identity = results.get("identity") or {}
    status = identity.get("nationality_status")
    if status == "stateless":
        facts["stateless"] = True
    # An origin authority that refuses a travel document says whether it doubts the
    # nationality: the joint SOP then documents it before any new request. A nationality
    # only claimed is not read either way.
    if status == "undetermined":
        facts["nationality_in_doubt"] = True
    elif status == "confirmed":
        facts["nationality_in_doubt"] = False
    monitoring = results.get("monitoring") or {}
    if "willing_to_remain" in monitoring:
        facts["willing_to_remain"] = monitoring["willing_to_remain"]
    if "social_participation" in monitoring or "meaningful_employment" in monitoring:
        facts["social_and_economic_participation"] = bool(
            monitoring.get("social_participation")
        ) and bool(monitoring.get("meaningful_employment"))
    return facts
