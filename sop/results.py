"""Facts an SOP learns from what the acting agency sends back when it completes a stage.

DESIGN §1: post-return monitoring records the two indicators of sustainable return the 2009
roundtable found informative: the returnee's willingness to remain, and participation in social
life and meaningful employment. They arrive in the ``monitoring`` category and become the facts
the monitoring stage's guards read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def facts_from_results(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The SOP facts that ``results`` (category → data) establish; the rest tell the SOP
    nothing."""
    facts: dict[str, Any] = {}
    monitoring = results.get("monitoring") or {}
    if "willing_to_remain" in monitoring:
        facts["willing_to_remain"] = monitoring["willing_to_remain"]
    if "social_participation" in monitoring or "meaningful_employment" in monitoring:
        facts["social_and_economic_participation"] = bool(
            monitoring.get("social_participation")
        ) and bool(monitoring.get("meaningful_employment"))
    return facts
