"""Fixtures for the SOP domain tests: the shipped definition and the case profiles of DESIGN §1."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sop.loader import shipped_definition
from sop.schema import Definition

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)

ADULT: dict[str, Any] = {
    "is_child": False,
    "unaccompanied": False,
    "separated": False,
    "trafficking_victim": False,
    "stateless": False,
    "serious_illness": False,
    "years_in_host_country": 2.5,
    "proof_of_work": False,
    "social_contributions": False,
    "clean_criminal_record": True,
    "age": 34,
    "nationality": "SRB",
    "host_language": "basic",
    "children_in_school": False,
    "regional_free_movement": None,
    "skills_match": False,
    "needs_escort": False,
    "nationality_in_doubt": False,
}
"""An adult whose asylum claim failed, with no specific needs and no alternative pathway."""


def profile(**changes: Any) -> dict[str, Any]:
    """The adult profile with some facts changed."""
    return {**ADULT, **changes}


UNACCOMPANIED_CHILD = profile(is_child=True, unaccompanied=True, age=15)
SEPARATED_CHILD = profile(is_child=True, separated=True, age=16)
TRAFFICKING_VICTIM = profile(trafficking_victim=True, age=24)
STATELESS = profile(stateless=True, nationality="", nationality_in_doubt=True)


@pytest.fixture(scope="session")
def avrr() -> Definition:
    """``sop/definitions/avrr-joint.yaml``, loaded and verified."""
    return shipped_definition("avrr-joint")
