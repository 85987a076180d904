"""A value of the wrong form is refused with what is expected, in words, never a regular
expression (issue 18: "an E.164 number without spaces", not ``^\\+[1-9][0-9]{6,14}$``)."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.patterns import PATTERN_WORDS
from services.app import create_app
from tests.support.app import make_settings
from tests.support.cases import CallerFactory, adult_case_body


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the words come from the validation layer, the same on every backend


def _patterns(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["pattern"]} if isinstance(value.get("pattern"), str) else set()
        return found.union(*(_patterns(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_patterns(v) for v in value))
    return set()


def test_every_pattern_of_the_api_has_words(tmp_path) -> None:
    document = create_app(make_settings(f"sqlite:///{tmp_path / 'unused.db'}")).openapi()
    assert _patterns(document) - set(PATTERN_WORDS) == set()


async def test_a_bad_country_code_and_phone_are_refused_in_words(client, caller: CallerFactory):
    headers = await caller(roles=["caseworker"], data_roles=["child_protection_officer"])
    body = adult_case_body()
    body["profile"]["nationality"] = "Serbia"
    body["data"]["family"] = {"guardian": {"name": "Appointed guardian", "phone": "+49 30 1234567"}}
    response = await client.post("/v1/cases", json=body, headers=headers)
    assert response.status_code == 422, response.text
    messages = {e["location"]: e["message"] for e in response.json()["errors"]}
    assert "ISO 3166-1 alpha-3" in messages["body.profile.nationality"]
    [phone] = [m for where, m in messages.items() if where.endswith("phone")]
    assert "E.164 phone number without spaces" in phone
    assert not any("^" in m or "pattern" in m for m in messages.values())
