"""The stage graph of a definition as Mermaid (``flowchart TD``) or Graphviz DOT.

``accord sop graph`` prints it and the console draws it (DESIGN §7). Given a journey, the
stages it visited, the transitions it took and its current stage are highlighted, so a focal
point sees at a glance where a case is and how it got there.

``always`` transitions (withdrawal) would add an edge from every stage; they are drawn once,
from an "any stage" node.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from sop.engine import JourneyState
from sop.schema import Branch, Definition, Stage

_GUARD_WIDTH = 60


@dataclass(frozen=True)
class _Edge:
    source: str | None  # None: the "any stage" node of `always`
    target: str
    outcome: str
    guard: str | None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _GUARD_WIDTH else text[: _GUARD_WIDTH - 1] + "…"


def _edges(definition: Definition) -> list[_Edge]:
    edges: list[_Edge] = []

    def add(source: str | None, outcome: str, branches: tuple[Branch, ...]) -> None:
        for branch in branches:
            if branch.to in definition.stage_map:
                edges.append(_Edge(source, branch.to, outcome, branch.when))

    for stage in definition.stages:
        for outcome, branches in stage.outcomes.items():
            add(stage.id, outcome, branches)
    for outcome, branches in definition.always.items():
        add(None, outcome, branches)
    return edges


def _taken(journey: JourneyState | None) -> set[tuple[str, str, str]]:
    """(from, outcome, to) for each transition the journey made."""
    if journey is None:
        return set()
    history = journey.history
    return {
        (left.stage, left.outcome, entered.stage)
        for left, entered in pairwise(history)
        if left.outcome is not None
    }


def _is_taken(edge: _Edge, taken: set[tuple[str, str, str]], always: set[str]) -> bool:
    if edge.source is not None:
        return (edge.source, edge.outcome, edge.target) in taken
    return any(o == edge.outcome and t == edge.target and o in always for _, o, t in taken)


def _start_targets(definition: Definition) -> list[Branch]:
    return [b for b in definition.start if b.to in definition.stage_map]


def _label_lines(stage: Stage) -> list[str]:
    lines = [stage.title]
    if stage.actor:
        lines.append(stage.actor)
    if stage.when:
        lines.append(f"if {_short(stage.when)}")
    return lines


# -- Mermaid ------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label (Mermaid's ``#entity;`` escapes)."""
    # ``#`` first: it starts every escape, so a literal one must not be read as an escape.
    for char, entity in (
        ("#", "#35;"),
        ("&", "#amp;"),
        ('"', "#quot;"),
        ("<", "#lt;"),
        (">", "#gt;"),
        ("|", "#124;"),
    ):
        text = text.replace(char, entity)
    return text


def to_mermaid(definition: Definition, journey: JourneyState | None = None) -> str:
    """A Mermaid ``flowchart TD`` of the stages; highlights ``journey`` when given."""
    # Node ids are prefixed: a stage called ``end`` would otherwise close the flowchart.
    node = {stage.id: f"s_{stage.id}" for stage in definition.stages}
    visited = set(journey.visited()) if journey else set()
    taken = _taken(journey)
    lines = [
        "flowchart TD",
        "    classDef terminal fill:#eceff1,stroke:#455a64",
        "    classDef visited fill:#c8e6c9,stroke:#2e7d32",
        "    classDef current fill:#ffd54f,stroke:#e65100,stroke-width:3px",
        '    sop_start(("start"))',
    ]
    for stage in definition.stages:
        label = "<br/>".join(_mermaid_text(line) for line in _label_lines(stage))
        left, right = ('(["', '"])') if stage.terminal else ('["', '"]')
        lines.append(f"    {node[stage.id]}{left}{label}{right}")
    if definition.always:
        lines.append('    sop_any{{"any stage"}}')
    links: list[str] = []
    highlighted: list[int] = []
    for branch in _start_targets(definition):
        guard = f'|"{_mermaid_text("if " + _short(branch.when))}"|' if branch.when else ""
        links.append(f"    sop_start -->{guard} {node[branch.to]}")
        if journey is not None and journey.history and journey.history[0].stage == branch.to:
            highlighted.append(len(links) - 1)
    for edge in _edges(definition):
        text = edge.outcome + (f" if {_short(edge.guard)}" if edge.guard else "")
        arrow = "-->" if edge.source is not None else "-.->"
        source = node[edge.source] if edge.source is not None else "sop_any"
        links.append(f'    {source} {arrow}|"{_mermaid_text(text)}"| {node[edge.target]}')
        if _is_taken(edge, taken, set(definition.always)):
            highlighted.append(len(links) - 1)
    lines += links
    terminal = [node[s.id] for s in definition.stages if s.terminal]
    if terminal:
        lines.append(f"    class {','.join(terminal)} terminal")
    if journey is not None:
        past = [node[s] for s in node if s in visited and s != journey.stage]
        if past:
            lines.append(f"    class {','.join(past)} visited")
        if journey.stage in node:
            lines.append(f"    class {node[journey.stage]} current")
    for index in highlighted:
        lines.append(f"    linkStyle {index} stroke:#e65100,stroke-width:3px")
    return "\n".join(lines) + "\n"


# -- Graphviz DOT -------------------------------------------------------------------------


def _dot(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(definition: Definition, journey: JourneyState | None = None) -> str:
    """A Graphviz ``digraph`` of the stages; highlights ``journey`` when given."""
    visited = set(journey.visited()) if journey else set()
    taken = _taken(journey)
    lines = [
        f"digraph {_dot(definition.ref)} {{",
        f"    label={_dot(definition.title)};",
        "    labelloc=t;",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        '    "__start" [shape=circle, label="start", width=0.3];',
    ]
    for stage in definition.stages:
        attributes = [f"label={_dot(chr(10).join(_label_lines(stage)))}"]
        if stage.terminal:
            attributes.append("peripheries=2")
        if journey is not None and stage.id == journey.stage:
            attributes += ['style="rounded,filled,bold"', 'fillcolor="#ffd54f"']
        elif stage.id in visited:
            attributes += ['style="rounded,filled"', 'fillcolor="#c8e6c9"']
        lines.append(f"    {_dot(stage.id)} [{', '.join(attributes)}];")
    if definition.always:
        lines.append('    "__always" [shape=plaintext, label="any stage"];')
    for branch in _start_targets(definition):
        attributes = [f"label={_dot('if ' + _short(branch.when))}"] if branch.when else []
        if journey is not None and journey.history and journey.history[0].stage == branch.to:
            attributes += ['color="#e65100"', "penwidth=2.5"]
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f'    "__start" -> {_dot(branch.to)}{suffix};')
    for edge in _edges(definition):
        label = edge.outcome + (f"\nif {_short(edge.guard)}" if edge.guard else "")
        attributes = [f"label={_dot(label)}"]
        if edge.source is None:
            attributes.append("style=dashed")
        if _is_taken(edge, taken, set(definition.always)):
            attributes += ['color="#e65100"', "penwidth=2.5"]
        source = _dot(edge.source) if edge.source is not None else '"__always"'
        lines.append(f"    {source} -> {_dot(edge.target)} [{', '.join(attributes)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- Stage map (the console's picture, readable without JavaScript) -------------------------


@dataclass(frozen=True)
class Exit:
    outcome: str
    target: str
    guard: str | None
    taken: bool


@dataclass(frozen=True)
class StageView:
    """One stage as the console lists it: who acts, on what, where it leads, and whether the
    journey is there now (``current``) or was (``visits`` counts its entries)."""

    id: str
    title: str
    description: str
    actor: str | None
    needs: tuple[str, ...]
    exits: tuple[Exit, ...]
    terminal: bool
    current: bool
    visits: int


def stage_views(definition: Definition, journey: JourneyState | None = None) -> list[StageView]:
    """The stages in the definition's order, with the journey's position and path marked."""
    taken = _taken(journey)
    visited = journey.visited() if journey else ()
    current = journey.stage if journey else None
    by_source: dict[str, list[Exit]] = {}
    for edge in _edges(definition):
        if edge.source is not None:
            by_source.setdefault(edge.source, []).append(
                Exit(edge.outcome, edge.target, edge.guard, _is_taken(edge, taken, set()))
            )
    return [
        StageView(
            id=stage.id,
            title=stage.title,
            description=stage.description,
            actor=stage.actor,
            needs=stage.needs,
            exits=tuple(by_source.get(stage.id, [])),
            terminal=stage.terminal,
            current=stage.id == current,
            visits=visited.count(stage.id),
        )
        for stage in definition.stages
    ]
