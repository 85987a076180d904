"""Drawing the stage graph, with a journey's path highlighted."""

from __future__ import annotations

import re

from sop import engine
from sop.graph import to_dot, to_mermaid
from sop.schema import Definition
from tests.sop.conftest import ADULT, NOW


def journey(avrr: Definition) -> engine.JourneyState:
    state = engine.start(avrr, ADULT, {}, NOW)
    for stage, outcome in [("profiling", "profiled"), ("counselling", "undecided")]:
        state = engine.advance(avrr, state, stage, outcome, ADULT, {}, NOW).state
    return state


def test_mermaid_has_every_stage_and_edge(avrr: Definition) -> None:
    text = to_mermaid(avrr)
    assert text.startswith("flowchart TD\n")
    for stage in avrr.stages:
        assert f"s_{stage.id}[" in text or f"s_{stage.id}([" in text
    assert 's_counselling -->|"decided_to_return"| s_travel_documents' in text
    assert 'sop_any -.->|"withdraw"| s_withdrawn' in text
    # Guards are shown, escaped so that ``||`` and quotes cannot break the flowchart.
    assert "#124;#124;" in text
    assert '"!willing_to_remain' not in text


def test_mermaid_highlights_the_journey(avrr: Definition) -> None:
    text = to_mermaid(avrr, journey(avrr))
    assert "class s_counselling current" in text
    assert "class s_profiling visited" in text
    links = [line for line in text.splitlines() if re.match(r"\s+\S+ -\.?->", line)]
    styled = {int(n) for n in re.findall(r"linkStyle (\d+) ", text)}
    taken = {links[n].strip() for n in styled}
    assert taken == {
        "sop_start --> s_profiling",
        's_profiling -->|"profiled"| s_counselling',
        's_counselling -->|"undecided"| s_counselling',
    }


def test_dot_is_a_digraph_with_the_journey_highlighted(avrr: Definition) -> None:
    text = to_dot(avrr, journey(avrr))
    assert text.startswith('digraph "avrr-joint@2.1.0" {')
    assert text.rstrip().endswith("}")
    assert re.search(
        r'"counselling" \[label="Return counselling\\nreturn_agency", [^\]]*#ffd54f', text
    )
    assert '"profiling" -> "counselling" [label="profiled", color="#e65100"' in text
    assert '"__always" -> "withdrawn" [label="withdraw", style=dashed]' in text
    assert text.count("peripheries=2") == sum(1 for s in avrr.stages if s.terminal)
