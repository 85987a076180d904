"""The safeguards at runtime (DESIGN §9): what the facts require, read off a journey's history.

Two rules, both pure:

* :func:`interrupt_due`: the first of the SOP's ``interrupts`` whose condition holds on the
  facts and whose stage the journey has not completed. The engine diverts a journey there when
  a fact changes, and leads it there first whenever it leaves a stage.
* :func:`missing_before`: before a stage of a guarded kind (a departure, a forced removal,
  travel documents), the protections the current facts call for, checked against what the
  history holds: the static proof of :mod:`sop.verify` is not trusted, so a hand-edited SOP
  that skips the best-interests determination still cannot walk a child to departure.

A stage counts as completed when it was entered and left with one of its own outcomes: not
``withdraw``, and not ``diverted``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sop.guards import Bindings, Guard, GuardInvalid, Truth, guards_of
from sop.protections import GUARDED_KINDS, KIND_WORDS, PROTECTIONS, SAFEGUARD_KINDS
from sop.schema import Definition, Interrupt, Stage, StageKind

DIVERTED = "diverted"
"""The outcome a stage is left with when an interrupt takes the journey elsewhere."""

MONITOR_ASSIGNED = "monitor_assigned"
"""The independent-monitoring outcome that lets a forced removal go ahead."""


class Visit(Protocol):
    """A history entry, as far as the safeguards read one."""

    @property
    def stage(self) -> str: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def by(self) -> str | None: ...


def completed(definition: Definition, history: Iterable[Visit]) -> list[Visit]:
    """The visits that completed their stage, in order."""
    stages = definition.stage_map
    return [
        visit
        for visit in history
        if visit.stage in stages
        and visit.outcome is not None
        and visit.outcome in stages[visit.stage].outcomes
    ]


@dataclass(frozen=True)
class Due:
    """An interrupt that applies: where to go, and the facts (names only) that call for it."""

    interrupt: Interrupt
    facts: tuple[str, ...]


def _verdict(definition: Definition, bindings: Bindings, text: str) -> tuple[bool, frozenset[str]]:
    try:
        guard = guards_of(definition).get(text)
    except GuardInvalid:
        return False, frozenset()  # verification reports it; an invalid guard diverts no one
    return bindings.evaluate(guard).truth is Truth.TRUE, guard.facts


def _conditions(definition: Definition) -> tuple[tuple[Interrupt, Guard | None], ...]:
    """The interrupts with their conditions looked up once per definition (None: not a guard,
    which verification reports and which diverts no one)."""
    table = guards_of(definition)

    def build() -> tuple[tuple[Interrupt, Guard | None], ...]:
        found = ((interrupt, table.lookup(interrupt.when)) for interrupt in definition.interrupts)
        return tuple((i, None if isinstance(g, GuardInvalid) else g) for i, g in found)

    return table.derived("interrupts", definition.interrupts, build)


def interrupt_due(
    definition: Definition,
    history: Iterable[Visit],
    facts: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    *,
    bindings: Bindings | None = None,
) -> Due | None:
    """The first interrupt whose condition holds on the bound ``facts`` and whose stage was not
    completed, with the facts that make it hold.

    ``bindings``, when the caller has them, must be ``Bindings(facts, params)``: the engine
    passes the ones its branch guards were evaluated on rather than convert the facts twice."""
    done = {visit.stage for visit in completed(definition, history)}
    if bindings is None:
        bindings = Bindings(facts, params)
    stages = definition.stage_map
    for interrupt, guard in _conditions(definition):
        if interrupt.stage in done or interrupt.stage not in stages or guard is None:
            continue
        if bindings.evaluate(guard).truth is Truth.TRUE:
            return Due(interrupt, _because(definition, interrupt.when, guard.facts, facts, params))
    return None


def _because(
    definition: Definition,
    text: str,
    reads: frozenset[str],
    facts: Mapping[str, Any],
    params: Mapping[str, Any] | None,
) -> tuple[str, ...]:
    """The true facts without which the condition would not hold (``unaccompanied``, not the
    ``is_child`` beside it); all the true ones it reads when no single one is needed."""
    true = sorted(f for f in reads if facts.get(f) is True)
    needed = [
        f for f in true if not _verdict(definition, Bindings({**facts, f: False}, params), text)[0]
    ]
    return tuple(needed or true or sorted(reads))


def is_safeguard(stage: Stage) -> bool:
    """A stage that is itself a safeguard, which a changed fact does not interrupt."""
    return bool(set(stage.kind) & SAFEGUARD_KINDS)


def is_guarded(stage: Stage) -> bool:
    return bool(set(stage.kind) & GUARDED_KINDS)


@dataclass(frozen=True)
class Missing:
    kind: StageKind
    reason: str


def missing_before(
    definition: Definition,
    history: Iterable[Visit],
    target: Stage,
    facts: Mapping[str, Any],
    *,
    acting: str | None,
) -> list[Missing]:
    """Every safeguard the facts require before ``target`` that the history does not hold.

    ``facts`` are the bound facts; a protection applies when each fact it is about is true
    (an unknown one stops the SOP's own guards instead). ``acting`` is the agency that would
    act at ``target``: the monitor of a forced removal must be another agency.
    """
    visits = completed(definition, history)
    kinds_done: set[StageKind] = set()
    for visit in visits:
        kinds_done |= set(definition.stage(visit.stage).kind)
    missing: dict[StageKind, Missing] = {}
    where = KIND_WORDS.get(target.kind[0], str(target.kind[0])) if target.kind else target.id
    for protection in PROTECTIONS:
        if not set(target.kind) & protection.before:
            continue
        if not all(facts.get(fact) is value for fact, value in protection.assume.items()):
            continue
        for kind in sorted(protection.requires):
            if kind in missing:
                continue
            words = KIND_WORDS.get(kind, str(kind))
            if kind == StageKind.INDEPENDENT_MONITORING:
                reason = _monitoring_gap(definition, visits, acting)
                if reason is not None:
                    missing[kind] = Missing(kind, f"{words} must precede {where}: {reason}")
            elif kind not in kinds_done:
                missing[kind] = Missing(
                    kind, f"{words} must be completed before {where} ({protection.source})"
                )
    return list(missing.values())


def _monitoring_gap(definition: Definition, visits: list[Visit], acting: str | None) -> str | None:
    monitoring = [
        v for v in visits if StageKind.INDEPENDENT_MONITORING in definition.stage(v.stage).kind
    ]
    if not monitoring:
        return "no independent monitoring stage was completed"
    last = monitoring[-1]
    if last.outcome != MONITOR_ASSIGNED:
        return f"the last independent monitoring ended {last.outcome}, not {MONITOR_ASSIGNED}"
    if last.by is None or last.by == acting:
        return "the monitor must be an agency other than the one carrying out the removal"
    return None
