"""The definition schema: structure only, extra fields forbidden, shorthand normalised."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sop.schema import Definition, Stage, StageKind

STAGE: dict[str, Any] = {
    "id": "travel_documents",
    "title": "Travel documents",
    "description": "Origin authority issues documents.",
    "actor": "origin_authority",
}


def test_outcome_shorthands_become_ordered_branches() -> None:
    stage = Stage.model_validate(
        {
            **STAGE,
            "outcomes": {
                "issued": ["escorted_departure", "departure"],
                "refused": "counselling",
                "lost": {"to": "counselling", "when": "stateless"},
            },
        }
    )
    assert [b.to for b in stage.outcomes["issued"]] == ["escorted_departure", "departure"]
    assert stage.outcomes["refused"][0].when is None
    assert stage.outcomes["lost"][0].when == "stateless"


def test_kind_is_one_tag_or_several() -> None:
    assert Stage.model_validate({**STAGE, "kind": "departure"}).kind == (StageKind.DEPARTURE,)
    both = Stage.model_validate({**STAGE, "kind": ["departure", "forced_removal"]})
    assert both.kind == (StageKind.DEPARTURE, StageKind.FORCED_REMOVAL)


def test_misspelt_kind_is_an_error_not_an_unprotected_stage() -> None:
    with pytest.raises(ValidationError):
        Stage.model_validate({**STAGE, "kind": "departur"})


@pytest.mark.parametrize(
    "change",
    [
        {"colour": "red"},
        {"id": "Travel Documents"},
        {"purpose": "Travel_Documents"},
        {"outcomes": {"issued": []}},
    ],
)
def test_malformed_stages_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Stage.model_validate({**STAGE, **change})


def test_version_is_semver(avrr: Definition) -> None:
    data = avrr.model_dump()
    with pytest.raises(ValidationError):
        Definition.model_validate({**data, "version": "1.0"})
    assert (
        Definition.model_validate({**data, "version": "2.0.0-rc.1"}).ref == "avrr-joint@2.0.0-rc.1"
    )


def test_definition_is_immutable(avrr: Definition) -> None:
    with pytest.raises(ValidationError):
        avrr.version = "9.9.9"  # type: ignore[misc]


def test_terminal_stage_offers_no_outcomes_not_even_withdrawal(avrr: Definition) -> None:
    assert avrr.outcomes_at("closed") == {}
    assert list(avrr.outcomes_at("counselling"))[-1] == "withdraw"
