"""Loading definitions: every problem located at its line, YAML traps closed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sop.errors import DefinitionInvalid
from sop.loader import check_file, check_text, load_definition, load_text, parse_definition
from sop.schema import StageKind

MINIMAL = textwrap.dedent(
    """\
    id: minimal
    version: 1.0.0
    title: Minimal
    description: One stage and the withdrawal.
    roles:
      return_agency: IOM.
    start: counselling
    always:
      withdraw: withdrawn
    stages:
      - id: counselling
        title: Counselling
        description: Counselling on return.
        actor: return_agency
        needs: [identity]
        purpose: avrr-counselling
        outcomes:
          declined: withdrawn
      - id: withdrawn
        title: Withdrawn
        description: Withdrawn.
        kind: withdrawal
        terminal: true
    """
)


def test_minimal_definition_loads() -> None:
    definition = load_text(MINIMAL)
    assert definition.ref == "minimal@1.0.0"
    assert definition.stage("withdrawn").kind == (StageKind.WITHDRAWAL,)
    assert definition.stage("counselling").outcomes["declined"][0].to == "withdrawn"


def test_source_map_locates_keys_and_items() -> None:
    parsed = parse_definition(MINIMAL)
    assert parsed.source.line("stages", 0) == 11
    assert parsed.source.line("stages", 0, "outcomes", "declined") == 18
    assert parsed.source.line("stages", 0, "needs", 0) == 15
    # Unknown path elements (pydantic union tags) are skipped, not fatal.
    assert parsed.source.line("stages", 1, "function-before[...]", "kind") == 22


def test_schema_errors_are_located() -> None:
    text = MINIMAL.replace("    purpose: avrr-counselling\n", "    purpose: AVRR counselling\n")
    text = text.replace("    terminal: true\n", "    terminal: true\n    colour: red\n")
    problems = check_text(text, "m.yaml")
    assert [(p.line, p.code) for p in problems] == [(16, "schema"), (24, "schema")]
    assert str(problems[0]).startswith("m.yaml:16: stages[0].purpose: String should match")
    assert "unknown field" in problems[1].message


def test_duplicate_keys_are_reported_not_silently_dropped() -> None:
    text = MINIMAL.replace(
        "      declined: withdrawn\n", "      declined: withdrawn\n      declined: counselling\n"
    )
    problems = check_text(text, "m.yaml")
    assert (19, "duplicate-key") in [(p.line, p.code) for p in problems]
    assert "first at line 18" in str(problems)


def test_yes_and_no_are_strings_not_booleans() -> None:
    # YAML 1.1 would read ``no`` as false, and a stage or outcome called ``no`` would vanish.
    text = MINIMAL.replace("      declined: withdrawn\n", "      no: withdrawn\n")
    definition = load_text(text)
    assert "no" in definition.stage("counselling").outcomes


def test_yaml_syntax_error_is_located() -> None:
    text = MINIMAL.replace("needs: [identity]", "needs: [identity")
    problems = check_text(text, "m.yaml")
    assert len(problems) == 1
    assert problems[0].code == "yaml"
    assert problems[0].line in (15, 16)


def test_document_that_is_not_a_mapping() -> None:
    assert [p.code for p in check_text("- just\n- a list\n")] == ["schema"]
    assert [p.code for p in check_text("")] == ["schema"]


def test_load_refuses_an_unverified_definition_with_every_problem() -> None:
    text = MINIMAL.replace("actor: return_agency", "actor: iom").replace(
        "needs: [identity]", "needs: [identity, passport]"
    )
    with pytest.raises(DefinitionInvalid) as refused:
        load_text(text, "m.yaml")
    assert {p.code for p in refused.value.problems} == {"unknown-role", "unknown-category"}


def test_unreadable_file_is_a_problem_on_line_one(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert [(p.line, p.code) for p in check_file(missing)] == [(1, "unreadable")]
    with pytest.raises(DefinitionInvalid):
        load_definition(missing)
