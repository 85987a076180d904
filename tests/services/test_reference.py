"""The README says what the code does: its generated tables are today's, its referral diagram
names every status, its JSON examples parse and its agreement terms are valid."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from contracts.agreements import validate_terms
from contracts.referrals import ReferralStatus
from kit.settings import Settings
from services import reference
from services.app import create_app
from tests.support.app import make_settings

README = reference.README.read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("reference") / "unused.db"
    return create_app(make_settings(f"sqlite:///{path}")).openapi()


def test_the_generated_sections_of_the_readme_are_current(document: dict[str, Any]) -> None:
    expected = reference.rewrite(README, reference.sections(document))
    assert expected == README, "run `python -m services.reference` and commit README.md"


def test_the_access_table_names_every_secured_operation(document: dict[str, Any]) -> None:
    table = reference.access_table(document)
    assert "| `POST /v1/referrals/{referral_id}/approve` | `referrals:approve` | focal_point |" in (
        table
    )
    secured = sum(
        1 for item in document["paths"].values() for op in item.values() if "x-roles" in op
    )
    assert table.count("\n| `") == secured


def test_every_setting_is_described_with_its_environment_variable() -> None:
    undescribed = [name for name, f in Settings.model_fields.items() if not f.description]
    assert not undescribed
    for name in Settings.model_fields:
        assert f"`ACCORD_{name.upper()}`" in README


def test_the_referral_diagram_names_every_status() -> None:
    diagrams = "\n".join(b for b in _blocks("mermaid") if b.startswith("stateDiagram"))
    named = set(re.findall(r"([a-z_]+) -->", diagrams)) | set(
        re.findall(r"--> ([a-z_]+) :", diagrams)
    )
    assert {s.value for s in ReferralStatus} <= named
    assert "revoked" in named
    assert "refused_by_recipient" in named


def test_the_readme_json_examples_parse_and_its_terms_are_valid() -> None:
    blocks = [json.loads(block) for block in _blocks("json")]
    terms = [b for b in blocks if isinstance(b, dict) and "parties" in b and "categories" in b]
    assert len(terms) == 1, "the README shows one complete terms.json"
    validate_terms(terms[0], known_agencies=set(terms[0]["parties"]))


def test_a_readme_with_a_stale_table_is_caught() -> None:
    stale = README.replace("| `ACCORD_MASTER_KEY_FILE` |", "| `ACCORD_MASTER_KEY_PATH` |")
    assert stale != README
    assert reference.rewrite(stale, {"settings": reference.settings_table()}) != stale
