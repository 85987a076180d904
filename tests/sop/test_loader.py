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


# -- bounds (issue 13) -------------------------------------------------------------------------


def guarded(guard: str) -> str:
    """MINIMAL with ``declined`` guarded by ``guard``, written on line 21 under ``when:``."""
    return MINIMAL.replace(
        "      declined: withdrawn\n",
        "      declined:\n"
        "        - to: withdrawn\n"
        "          when: >-\n"
        f"            {guard}\n"
        "        - withdrawn\n",
    )


def nested_alls(depth: int, items: int, body: str) -> str:
    """``[0,..].all(a, [0,..].all(b, ... body))``: ``items**depth`` evaluations of ``body``."""
    numbers = "[" + ",".join(str(i) for i in range(items)) + "]"
    for variable in reversed("abcdefgh"[:depth]):
        body = f"{numbers}.all({variable}, {body})"
    return body


def test_five_nested_comprehensions_are_refused_before_anything_evaluates_them() -> None:
    # The guard of issue 13: verifying it took 3 s, every evaluation iterating 20**5 times.
    guard = nested_alls(5, 20, "a + b + c + d + e != -1")
    assert len(guard) == 323
    # Refused by its shape (the count of nested comprehensions), not by running it: no timing
    # needed to tell, and none asserted (benchmarks measure time, tests do not).
    problems = check_text(guarded(guard), "m.yaml")
    assert [(p.line, p.code) for p in problems] == [(20, "guard-comprehensions")]
    assert "nests 5 comprehensions" in problems[0].message
    assert problems[0].breach is not None
    assert (problems[0].breach.maximum, problems[0].breach.found) == (2, 5)


def test_every_guard_limit_broken_is_reported_with_the_other_problems() -> None:
    deep_and_long = f"[{','.join(['1'] * 101)}].exists(x, x == 2) && {'!' * 40}true"
    too_long = " || ".join(["unaccompanied"] * 70)
    text = guarded(deep_and_long).replace(
        "        - withdrawn\n",
        f"        - to: withdrawn\n          when: {too_long}\n        - withdrawn\n",
    )
    text = text.replace("    actor: return_agency\n", "    actor: iom\n")
    problems = check_text(text, "m.yaml")
    assert [(p.line, p.code) for p in problems] == [
        (14, "unknown-role"),
        (20, "guard-depth"),
        (20, "guard-list-items"),
        (23, "guard-length"),
    ]
    assert all(str(p).startswith(f"m.yaml:{p.line}: ") for p in problems)
    assert "has 1,186 characters; at most 1,000" in problems[3].message


def test_a_yaml_alias_bomb_is_refused_at_its_first_anchor() -> None:
    # "Billion laughs": each line repeats the one above nine times, 9**6 strings in 318 bytes.
    bomb = (
        "a: &a ["
        + ",".join(['"lollollollol"'] * 9)
        + "]\n"
        + "".join(
            f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]\n"
            for previous, name in zip("abcde", "bcdef", strict=True)
        )
    )
    assert len(bomb) < 350
    problems = check_text(bomb, "bomb.yaml")
    assert [(p.line, p.code) for p in problems] == [(1, "yaml-anchors")]
    assert "found &a" in problems[0].message


def test_anchors_are_refused_even_where_they_would_be_harmless() -> None:
    text = MINIMAL.replace("    needs: [identity]\n", "    needs: &needs [identity]\n")
    assert [(p.line, p.code) for p in check_text(text)] == [(15, "yaml-anchors")]


def test_a_definition_over_256_kib_is_refused_before_it_is_parsed() -> None:
    padding = "# " + "x" * 78 + "\n"
    text = MINIMAL + padding * (300 * 1024 // len(padding))
    problems = check_text(text, "big.yaml")
    assert [(p.line, p.code) for p in problems] == [(1, "document-size")]
    assert "at most 262,144 (256 KiB)" in problems[0].message
    assert check_text(MINIMAL + padding * (200 * 1024 // len(padding))) == []


def test_the_size_limit_counts_utf8_bytes_not_characters() -> None:
    text = MINIMAL.replace("title: Minimal", "title: " + "é" * (130 * 1024))
    assert len(text) < 256 * 1024
    assert [p.code for p in check_text(text)] == ["document-size"]


def test_deeply_nested_yaml_is_a_problem_not_a_crash() -> None:
    problems = check_text("stages: " + "[" * 5000 + "]" * 5000)
    assert [(p.line, p.code) for p in problems] == [(1, "document-depth")]
