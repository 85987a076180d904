"""``accord sop check`` and ``accord sop graph`` (DESIGN §8: fixed command lines).

Each file in ``tests/sop/broken/`` carries ``# expect: CODE`` on the line where the problem
must be reported; the test reads those markers, so the data documents itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli_sop import sop_app
from sop.loader import SHIPPED_DIR, check_file

BROKEN = Path(__file__).parent / "broken"
AVRR = SHIPPED_DIR / "avrr-joint.yaml"
runner = CliRunner()

MESSAGES = {
    "unreachable_stage.yaml": "stage 'reception' cannot be reached from start",
    "outcome_to_nowhere.yaml": "leads to 'travel_docs', which is not a stage",
    "unknown_fact.yaml": "reads undeclared fact(s) needs_escourt",
    "guard_syntax.yaml": "does not compile",
    "unknown_category.yaml": "needs 'medical_records', which is not a data category",
    "departure_skips_bid.yaml": "a separated child can reach departure (stage 'departure') "
    "without a best-interests determination",
    "forced_removal_unmonitored.yaml": "can reach a forced removal (stage 'removal') without "
    "independent monitoring",
    "bad_due_and_dead_end.yaml": "due '14 days' is not an ISO 8601 duration",
}


def expected(path: Path) -> set[tuple[int, str]]:
    found = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = re.search(r"# expect: ([a-z-]+)", line)
        if match:
            found.add((number, match.group(1)))
    return found


def test_every_broken_definition_is_covered() -> None:
    assert {path.name for path in BROKEN.glob("*.yaml")} == set(MESSAGES)


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_check_reports_each_broken_definition_at_the_right_line(name: str) -> None:
    path = BROKEN / name
    want = expected(path)
    assert want, f"{name} has no # expect: markers"
    problems = check_file(path)
    assert {(p.line, p.code) for p in problems} == want
    result = runner.invoke(sop_app, ["check", str(path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines == [str(p) for p in problems]
    assert {int(line.split(":")[1]) for line in lines} == {line for line, _ in want}
    for line in lines:
        assert line.startswith(f"{path}:")
    assert any(MESSAGES[name] in line for line in lines), lines


def test_check_passes_the_shipped_sop() -> None:
    result = runner.invoke(sop_app, ["check", str(AVRR)])
    assert result.exit_code == 0, result.stdout
    assert result.stdout == ""


def test_check_fails_when_any_of_several_files_fails() -> None:
    result = runner.invoke(sop_app, ["check", str(AVRR), str(BROKEN / "unknown_fact.yaml")])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{BROKEN / 'unknown_fact.yaml'}:26: ")


def test_check_reports_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(sop_app, ["check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{tmp_path / 'nope.yaml'}:1: cannot read the file")


@pytest.mark.parametrize(("fmt", "head"), [("mermaid", "flowchart TD\n"), ("dot", "digraph ")])
def test_graph_prints_the_stage_graph(fmt: str, head: str) -> None:
    result = runner.invoke(sop_app, ["graph", str(AVRR), "--format", fmt])
    assert result.exit_code == 0
    assert result.stdout.startswith(head)
    assert "counselling" in result.stdout


def test_graph_draws_a_definition_that_parses_but_does_not_verify() -> None:
    result = runner.invoke(sop_app, ["graph", str(BROKEN / "unreachable_stage.yaml")])
    assert result.exit_code == 0
    assert "s_reception" in result.stdout
    assert "cannot be reached" in result.stderr


def test_graph_refuses_a_definition_that_does_not_parse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [unclosed\n", encoding="utf-8")
    result = runner.invoke(sop_app, ["graph", str(bad), "--format", "dot"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"{bad}:" in result.stderr
