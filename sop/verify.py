"""Static verification of an SOP definition: every problem, each with its file and line.

Checked (DESIGN §7): references resolve (actors are declared roles, targets and ``start`` are
stages); every stage is reachable from ``start``; every non-terminal stage can reach a terminal
one by its own outcomes (withdrawal does not count, or every dead end would pass); terminal
stages have no outcomes; every outcome ends with an unguarded fallback, so the engine always
has somewhere to go (a stage marked ``once`` is no fallback: the engine passes over it once
completed); ``owner_may_record`` names the stage's own outcomes, and none of a written
decision; a derived fact (``same_free_movement_area``) has what it is derived from; guards stay
within the static limits of :mod:`sop.limits` (measured before anything compiles them),
compile, read only declared facts and ``params.NAME`` of declared parameters, and evaluate to
a bool on facts of their declared types; ``needs`` use the category vocabulary; ``due`` is an
ISO 8601 duration; ``always`` has ``withdraw`` leading to a terminal withdrawal stage (AVRR
principle: the person may change their mind at any time).

Mandatory protections (:data:`PROTECTIONS`): no path takes an unaccompanied or separated child,
or a trafficked child, to departure without a best-interests determination (CRC art. 3; the
2009 roundtable); a trafficking victim without the risk assessment and the protection-needs
analysis; a stateless person to travel documents or departure without the statelessness
documentation stage; anyone to a forced removal without independent monitoring (Council of
Europe Twenty Guidelines; EU Return Directive art. 8(6)). Stages are recognised by ``kind``.

Why the protection search is sound
----------------------------------
For each protection we search the product graph of (stage, required kinds passed so far),
breadth first from ``start``, and report any state that enters a target stage (e.g. a
departure) without every required kind. The edges searched are a superset of the transitions
the engine can make for a person of the protection's profile:

* the profile is an assumption on facts (``unaccompanied = true``); every other fact and every
  parameter is left unbound, i.e. may take any value, and may differ from one step to the next
  (facts are recorded as the journey goes);
* an edge (a branch of an outcome) is dropped only when its guard, or the entry condition of
  its target, evaluates to *false* with only the profile's facts bound. By the three-valued
  evaluation of :mod:`sop.guards`, a value CEL computes without a fact is the value for every
  value of that fact, so such an edge is never taken by anyone with the profile. An unknown
  result (a fact or parameter is needed, or the guard errs) keeps the edge;
* branches are tried in order by the engine, so when a branch is *provably true* under the
  profile the engine never gets past it, and the later branches of that outcome are dropped
  too, unless it leads to a stage marked ``once``, which the engine passes over once the
  journey has completed it (the search does not track that, so it keeps the later branches).
  That is the only other pruning, and it is exact;
* the correlations between guards (two edges that can never both be taken by the same
  person) are ignored, which only adds paths.

So every path the engine can follow is a path of the searched graph: the search may report a
path no real case can take (a false alarm, fixed by making the guard decidable from the
profile), but it never misses a violating one. It assumes the profile fact itself is true
whenever a guard is evaluated; a case whose recorded ``unaccompanied`` flips to false is, for
the SOP, no longer an unaccompanied child. (That is why protection facts must be bools that
are never null: an unknown one stops the engine instead of reading as false.)

A required stage counts as passed once it is completed by one of its own outcomes; a stage
that is both, say, a BID and a departure does not protect itself. ``tests/sop/test_verify.py``
checks the claim on random definitions: every bypass the engine can actually make, exploring
all outcomes and fact values, is one the verifier reports.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sop.durations import parse_duration
from sop.free_movement import HOST_COUNTRY, NATIONALITY, SAME_AREA
from sop.guards import (
    ALWAYS,
    Bindings,
    Guard,
    GuardInvalid,
    GuardSyntaxError,
    GuardTooComplex,
    Truth,
    Verdict,
    guards_of,
    sample_bindings,
)
from sop.limits import Breach
from sop.problems import Problem, SourceMap
from sop.protections import KIND_WORDS, PROTECTIONS, SAFEGUARD_KINDS, Protection
from sop.schema import Branch, Definition, FactType, StageKind
from sop.vocabulary import CATEGORIES, CEL_RESERVED

WITHDRAW = "withdraw"
FACT_CHANGE = "(a fact changes)"

DECISION_KINDS = frozenset({StageKind.BID, StageKind.TRAFFICKING_RISK_ASSESSMENT})
"""Stages whose outcome is a written decision about the person (DESIGN §9)."""


@dataclass(frozen=True)
class Edge:
    """One branch out of a stage (``source`` None for ``start``), located in the file."""

    source: str | None
    outcome: str | None
    target: str
    branch: Branch
    where: tuple[str | int, ...]


@dataclass
class _Checker:
    definition: Definition
    source: SourceMap
    file: str
    problems: list[Problem] = field(default_factory=list)

    def report(
        self,
        where: tuple[str | int, ...],
        code: str,
        message: str,
        breach: Breach | None = None,
    ) -> None:
        self.problems.append(Problem(self.file, self.source.line(*where), code, message, breach))

    # -- structure -------------------------------------------------------------------------

    def edges(self) -> Iterator[Edge]:
        """Every branch in the definition: ``start``, each stage's outcomes, and ``always``
        branches from every non-terminal stage (located at the ``always`` entry)."""
        d = self.definition
        for j, branch in enumerate(d.start):
            yield Edge(None, None, branch.to, branch, ("start", j))
        for i, stage in enumerate(d.stages):
            for outcome, branches in stage.outcomes.items():
                for j, branch in enumerate(branches):
                    yield Edge(
                        stage.id, outcome, branch.to, branch, ("stages", i, "outcomes", outcome, j)
                    )
            if not stage.terminal:
                for outcome, branches in d.always.items():
                    if outcome in stage.outcomes:
                        continue
                    for j, branch in enumerate(branches):
                        yield Edge(stage.id, outcome, branch.to, branch, ("always", outcome, j))

    def declared(self) -> Iterator[tuple[Branch, tuple[str | int, ...], str]]:
        """Every branch as written, once each (``always`` branches are not repeated per stage),
        with its location and how to name it in a message."""
        d = self.definition
        for j, branch in enumerate(d.start):
            yield branch, ("start", j), "start"
        for outcome, branches in d.always.items():
            for j, branch in enumerate(branches):
                yield branch, ("always", outcome, j), f"always outcome {outcome!r}"
        for i, stage in enumerate(d.stages):
            for outcome, branches in stage.outcomes.items():
                for j, branch in enumerate(branches):
                    where = ("stages", i, "outcomes", outcome, j)
                    yield branch, where, f"outcome {outcome!r} of stage {stage.id!r}"

    def stage_index(self) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, stage in enumerate(self.definition.stages):
            index.setdefault(stage.id, i)
        return index

    def check_declarations(self) -> None:
        d = self.definition
        for section, kind, names in (("facts", "fact", d.facts), ("params", "parameter", d.params)):
            for name in names:
                if name in CEL_RESERVED:
                    self.report(
                        (section, name),
                        "reserved-name",
                        f"{kind} {name!r} is a reserved CEL name; guards could not read it",
                    )
        for name, param in d.params.items():
            if param.default is not None and not _has_type(param.default, param.type):
                self.report(
                    ("params", name, "default"),
                    "param-default-type",
                    f"default of params.{name} is not of type {param.type}: {param.default!r}",
                )
        self.check_derived()
        for protection in PROTECTIONS:
            for fact in protection.assume:
                spec = d.facts.get(fact)
                if spec is not None and (spec.type != "bool" or spec.nullable):
                    self.report(
                        ("facts", fact),
                        "protection-fact",
                        f"fact {fact!r} protects {protection.who}: it must be a bool and not "
                        "nullable, so that an unknown value stops the journey instead of "
                        "reading as false",
                    )

    def check_derived(self) -> None:
        """A derived fact (:mod:`sop.free_movement`) needs what it is derived from."""
        d = self.definition
        spec = d.facts.get(SAME_AREA)
        if spec is None:
            return
        wrong = []
        if spec.type != "bool" or spec.nullable:
            wrong.append(f"{SAME_AREA} must be a bool that is not nullable")
        nationality = d.facts.get(NATIONALITY)
        if nationality is None or nationality.type != "string":
            wrong.append(f"the fact {NATIONALITY!r} (string) must be declared")
        host = d.params.get(HOST_COUNTRY)
        if host is None or host.type != "string":
            wrong.append(f"the parameter params.{HOST_COUNTRY} (string) must be declared")
        if wrong:
            self.report(
                ("facts", SAME_AREA),
                "derived-fact",
                f"fact {SAME_AREA!r} is derived from the nationality and the host country: "
                + "; ".join(wrong),
            )

    def check_stages(self) -> None:
        d = self.definition
        seen: dict[str, int] = {}
        for i, stage in enumerate(d.stages):
            here = ("stages", i)
            if stage.id in seen:
                self.report(
                    (*here, "id"),
                    "duplicate-stage",
                    f"stage {stage.id!r} is defined twice (first as stage #{seen[stage.id] + 1})",
                )
            else:
                seen[stage.id] = i
            if stage.actor is None:
                if not stage.terminal:
                    self.report(here, "missing-actor", f"stage {stage.id!r} has no actor")
            elif stage.actor not in d.roles:
                self.report(
                    (*here, "actor"),
                    "unknown-role",
                    f"stage {stage.id!r}: actor {stage.actor!r} is not a declared role "
                    f"({', '.join(sorted(d.roles))})",
                )
            if stage.purpose is None and not stage.terminal:
                self.report(here, "missing-purpose", f"stage {stage.id!r} has no purpose")
            for k, category in enumerate(stage.needs):
                if category not in CATEGORIES:
                    self.report(
                        (*here, "needs", k),
                        "unknown-category",
                        f"stage {stage.id!r} needs {category!r}, which is not a data "
                        f"category ({', '.join(sorted(CATEGORIES))})",
                    )
                elif category in stage.needs[:k]:
                    self.report(
                        (*here, "needs", k),
                        "duplicate-category",
                        f"stage {stage.id!r} lists {category!r} twice in needs",
                    )
            if stage.due is not None:
                try:
                    parse_duration(stage.due)
                except ValueError as error:
                    self.report((*here, "due"), "bad-due", f"stage {stage.id!r}: due {error}")
            for k, fact in enumerate(stage.records):
                if fact not in d.facts:
                    self.report(
                        (*here, "records", k),
                        "unknown-fact",
                        f"stage {stage.id!r} records {fact!r}, which is not a declared fact",
                    )
            if set(stage.kind) & DECISION_KINDS and not stage.decision:
                self.report(
                    here,
                    "decision-unrecorded",
                    f"stage {stage.id!r} decides on a person's return "
                    f"({', '.join(sorted(set(stage.kind) & DECISION_KINDS))}): mark it "
                    "`decision: true`, so its outcome is recorded with who decided and the "
                    "reference of the written decision",
                )
            if stage.terminal and stage.outcomes:
                self.report(
                    (*here, "outcomes"),
                    "terminal-with-outcomes",
                    f"terminal stage {stage.id!r} has outcomes; a journey ends there",
                )
            for k, outcome in enumerate(stage.owner_may_record):
                if outcome not in stage.outcomes:
                    self.report(
                        (*here, "owner_may_record", k),
                        "owner-may-record",
                        f"stage {stage.id!r} lets the owner record {outcome!r}, which is not one "
                        f"of its outcomes ({', '.join(stage.outcomes) or 'none'})",
                    )
                elif stage.decision:
                    self.report(
                        (*here, "owner_may_record", k),
                        "owner-may-record",
                        f"stage {stage.id!r} is a written decision: only the acting agency may "
                        f"record {outcome!r}, with who decided and the decision's reference",
                    )
            for outcome in stage.outcomes:
                if outcome in d.always:
                    self.report(
                        (*here, "outcomes", outcome),
                        "shadows-always",
                        f"stage {stage.id!r} redefines {outcome!r}, which `always` already "
                        "defines for every stage",
                    )

    def check_references(self) -> None:
        d = self.definition
        for branch, where, what in self.declared():
            if branch.to not in d.stage_map:
                self.report(
                    (*where, "to"),
                    "unknown-stage",
                    f"{what} leads to {branch.to!r}, which is not a stage",
                )
        for k, interrupt in enumerate(d.interrupts):
            if interrupt.stage not in d.stage_map:
                self.report(
                    ("interrupts", k, "stage"),
                    "unknown-stage",
                    f"interrupt {k + 1} leads to {interrupt.stage!r}, which is not a stage",
                )
            elif d.stage_map[interrupt.stage].terminal:
                self.report(
                    ("interrupts", k, "stage"),
                    "interrupt-terminal",
                    f"interrupt {k + 1} leads to terminal stage {interrupt.stage!r}; an "
                    "interrupt requires a safeguard, which a journey must be able to complete",
                )
        withdraw = d.always.get(WITHDRAW)
        # A process that rests on a legal obligation (a host authority's enforcement) is not
        # the person's to withdraw from; every other SOP must let them.
        by_consent = any(s.legal_basis == "consent" for s in d.stages if not s.terminal and s.actor)
        if withdraw is None and by_consent:
            self.report(
                ("always",),
                "missing-withdraw",
                "`always` must define withdraw: the person may change their mind at any "
                "stage (AVRR principle)",
            )
        else:
            for j, branch in enumerate(withdraw or ()):
                stage = d.stage_map.get(branch.to)
                if stage is not None and not (
                    stage.terminal and StageKind.WITHDRAWAL in stage.kind
                ):
                    self.report(
                        ("always", WITHDRAW, j, "to"),
                        "withdraw-target",
                        f"withdraw leads to {branch.to!r}, which must be a terminal stage of "
                        "kind withdrawal",
                    )

    def check_fallbacks(self) -> None:
        d = self.definition

        def fallback(branches: tuple[Branch, ...], where: tuple[str | int, ...], what: str) -> None:
            last = branches[-1]
            target = d.stage_map.get(last.to)
            if last.when is not None:
                why = f"its last branch (to {last.to!r}) is guarded"
            elif target is not None and target.when is not None:
                why = f"its last branch enters {last.to!r}, which has an entry condition"
            elif target is not None and target.once:
                why = f"its last branch enters {last.to!r}, which is passed over once completed"
            else:
                return
            self.report(
                (*where, len(branches) - 1),
                "no-fallback",
                f"{what} has no fallback: {why}, so some cases would have nowhere to go; "
                "end with an unguarded branch to a stage without an entry condition",
            )

        fallback(d.start, ("start",), "start")
        for outcome, branches in d.always.items():
            fallback(branches, ("always", outcome), f"always outcome {outcome!r}")
        for i, stage in enumerate(d.stages):
            for outcome, branches in stage.outcomes.items():
                fallback(
                    branches,
                    ("stages", i, "outcomes", outcome),
                    f"outcome {outcome!r} of stage {stage.id!r}",
                )

    def check_graph(self) -> None:
        d = self.definition
        index = self.stage_index()
        successors: dict[str | None, set[str]] = {}
        own: dict[str, set[str]] = {}
        for edge in self.edges():
            if edge.target not in d.stage_map:
                continue
            successors.setdefault(edge.source, set()).add(edge.target)
            if edge.source is not None and edge.where[0] == "stages":
                own.setdefault(edge.source, set()).add(edge.target)
        first = successors.get(None, set())
        if first:
            # An interrupt may take a journey to its stage from any stage.
            first = first | {i.stage for i in d.interrupts if i.stage in d.stage_map}
        reached = _closure(successors, first)
        for stage_id, i in index.items():
            if stage_id not in reached:
                self.report(
                    ("stages", i),
                    "unreachable-stage",
                    f"stage {stage_id!r} cannot be reached from start",
                )
        terminals = {s.id for s in d.stages if s.terminal}
        for stage_id, i in index.items():
            stage = d.stage_map[stage_id]
            if stage.terminal:
                continue
            if not _closure(own, own.get(stage_id, set())) & terminals:
                self.report(
                    ("stages", i),
                    "no-terminal",
                    f"stage {stage_id!r} cannot reach a terminal stage except by withdrawal",
                )

    # -- guards ----------------------------------------------------------------------------

    def guard_sites(self) -> Iterator[tuple[str, tuple[str | int, ...], str]]:
        d = self.definition
        for k, interrupt in enumerate(d.interrupts):
            yield interrupt.when, ("interrupts", k, "when"), f"condition of interrupt {k + 1}"
        for i, stage in enumerate(d.stages):
            if stage.when is not None:
                yield stage.when, ("stages", i, "when"), f"entry condition of {stage.id!r}"
        for branch, where, what in self.declared():
            if branch.when is not None:
                yield branch.when, (*where, "when"), f"guard of {what} -> {branch.to!r}"

    def check_guards(self) -> None:
        d = self.definition
        table = guards_of(d)
        samples = [sample_bindings(d.facts, d.params, which) for which in (0, 1)]
        if any(spec.nullable for spec in d.facts.values()):
            samples.append(sample_bindings(d.facts, d.params, 0, nulls=True))
        nothing = Bindings({}, None)
        for text, where, what in self.guard_sites():
            try:
                guard = table.get(text)
            except GuardTooComplex as error:
                for breach in error.breaches:
                    self.report(where, breach.limit, f"{what} {breach.message}", breach)
                continue
            except GuardSyntaxError as error:
                self.report(where, "guard-syntax", f"{what} does not compile: {error}")
                continue
            sound = True
            undeclared = sorted(guard.facts - set(d.facts))
            if undeclared:
                sound = False
                self.report(
                    where,
                    "unknown-fact",
                    f"{what} reads undeclared fact(s) {', '.join(undeclared)}",
                )
            unknown_params = sorted(guard.params - set(d.params))
            if unknown_params:
                sound = False
                self.report(
                    where,
                    "unknown-param",
                    f"{what} reads undeclared parameter(s) "
                    + ", ".join(f"params.{p}" for p in unknown_params),
                )
            for misuse in guard.misuse:
                sound = False
                self.report(where, "params-access", f"{what}: {misuse}")
            if not sound:
                continue
            for bindings in samples:
                verdict = bindings.evaluate(guard)
                if verdict.truth is Truth.UNKNOWN:
                    self.report(
                        where,
                        "guard-type",
                        f"{what} fails on facts of their declared types: {verdict.error}",
                    )
                    break
            if nothing.evaluate(guard).truth is Truth.FALSE:
                self.report(where, "guard-never", f"{what} can never hold")

    # -- protections -----------------------------------------------------------------------

    def check_protections(self) -> None:
        d = self.definition
        index = self.stage_index()
        for protection in PROTECTIONS:
            targets = [s for s in d.stages if set(s.kind) & protection.before]
            if not targets:
                continue
            for stage_id, path in _violations(d, protection, self.edges_by_source()).items():
                stage = d.stage_map[stage_id]
                kinds = sorted(set(stage.kind) & protection.before)
                missing = " and ".join(
                    KIND_WORDS.get(k, str(k)) for k in sorted(protection.requires)
                )
                self.report(
                    ("stages", index[stage_id]),
                    "protection-bypass",
                    f"{protection.who} can reach {KIND_WORDS.get(kinds[0], str(kinds[0]))} "
                    f"(stage {stage_id!r}) without {missing} ({protection.source}): "
                    + _render_path(path),
                )

    def edges_by_source(self) -> dict[str | None, dict[str | None, list[Edge]]]:
        """Edges grouped by source stage, then by outcome, branches in order."""
        grouped: dict[str | None, dict[str | None, list[Edge]]] = {}
        for edge in self.edges():
            grouped.setdefault(edge.source, {}).setdefault(edge.outcome, []).append(edge)
        return grouped


def _has_type(value: Any, kind: FactType) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "list[string]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _closure(successors: Mapping[Any, set[str]], start: set[str]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in successors.get(todo.pop(), set()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _branch_truth(d: Definition, bindings: Bindings, branch: Branch) -> Truth:
    """Whether the engine may take ``branch`` for everyone with the bound facts."""
    table = guards_of(d)

    def verdict(text: str | None) -> Verdict:
        if text is None:
            return ALWAYS
        try:
            guard: Guard = table.get(text)
        except GuardInvalid:
            return Verdict(Truth.UNKNOWN)
        return bindings.evaluate(guard)

    target = d.stage_map.get(branch.to)
    entry = verdict(target.when) if target is not None else ALWAYS
    return verdict(branch.when).truth.and_(entry.truth)


def possible_edges(d: Definition, bindings: Bindings, branches: list[Edge]) -> list[Edge]:
    """The branches the engine may take under ``bindings`` (see the module docstring)."""
    taken = []
    for edge in branches:
        if edge.target not in d.stage_map:
            continue
        truth = _branch_truth(d, bindings, edge.branch)
        if truth is Truth.FALSE:
            continue
        taken.append(edge)
        # A completed ``once`` stage is passed over, so a branch to one that is provably
        # taken does not stop the engine from reaching the branches after it.
        if truth is Truth.TRUE and not d.stage_map[edge.target].once:
            break
    return taken


def _violations(
    d: Definition,
    protection: Protection,
    grouped: Mapping[str | None, Mapping[str | None, list[Edge]]],
) -> dict[str, list[Edge]]:
    """Target stages reachable without the protection, each with a shortest witness path.

    A search state is (stage, required kinds passed, interrupt stages completed, turned):
    until ``turned`` the protection's facts are unbound (the person is not known to have the
    profile); a "turn" step between any two steps makes them true, as a late identification
    does. Turning, and leaving any stage once turned, follow the engine's interrupts
    (:mod:`sop.safeguards`): the first whose condition holds and whose stage is not completed
    takes the journey there, except that a turn does not interrupt a safeguard stage. An
    interrupt whose condition is undecided under the profile may or may not apply, so both are
    searched. A violation is any turned state at a target stage without every required kind.
    """
    assume = {
        fact: value
        for fact, value in protection.assume.items()
        if fact in d.facts and d.facts[fact].type == "bool"
    }
    profile = Bindings(assume, None)
    unknown = Bindings({}, None)
    guarded = {i.stage for i in d.interrupts if i.stage in d.stage_map}
    State = tuple[str, frozenset[StageKind], frozenset[str], bool]
    parents: dict[State, tuple[State | None, Edge]] = {}
    queue: deque[State] = deque()
    found: dict[str, list[Edge]] = {}

    def interrupts(at: str, done: frozenset[str], bindings: Bindings) -> list[str]:
        """Where the engine may go instead of ``at`` (``at`` itself when it may stay)."""
        options: list[str] = []
        for interrupt in d.interrupts:
            if interrupt.stage not in d.stage_map or interrupt.stage in done:
                continue
            truth = _truth(d, bindings, interrupt.when)
            if truth is Truth.FALSE:
                continue
            options.append(interrupt.stage)
            if truth is Truth.TRUE:
                return options
        return [*options, at]

    def visit(previous: State | None, edge: Edge, state: State) -> None:
        target, passed, _, turned = state
        violated = set(d.stage_map[target].kind) & protection.before
        if turned and violated and not protection.requires <= passed and target not in found:
            path = [edge]
            node = previous
            while node is not None:
                parent, via = parents[node]
                path.append(via)
                node = parent
            found[target] = path[::-1]
        if state not in parents:
            parents[state] = (previous, edge)
            queue.append(state)

    def leave(previous: State | None, edge: Edge, turned: bool) -> None:
        passed: frozenset[StageKind] = frozenset()
        done: frozenset[str] = frozenset()
        if previous is not None:
            source, passed, done, _ = previous
            if edge.where[0] == "stages":
                # A stage is passed when it is completed by one of its own outcomes; leaving
                # it by an ``always`` outcome does not count as, say, a BID done.
                passed |= set(d.stage_map[source].kind) & protection.requires
                if source in guarded:
                    done |= {source}
        target = d.stage_map[edge.target]
        bindings = profile if turned else unknown
        nexts = (
            [edge.target]
            if target.terminal or previous is None
            else interrupts(edge.target, done, bindings)
        )
        for stage_id in nexts:
            hop = edge if stage_id == edge.target else _detour(edge, stage_id)
            visit(previous, hop, (stage_id, passed, done, turned))

    def change(state: State) -> None:
        """A fact changes: the protection's (a turn), or any other, at any step."""
        at, passed, done, turned = state
        stage = d.stage_map[at]
        if stage.terminal:
            return
        stays = bool(set(stage.kind) & SAFEGUARD_KINDS)
        for now_turned in phases(turned):
            bindings = profile if now_turned else unknown
            for stage_id in [at] if stays else interrupts(at, done, bindings):
                edge = Edge(at, FACT_CHANGE, stage_id, Branch(to=stage_id), ("interrupts",))
                visit(state, edge, (stage_id, passed, done, now_turned))

    def phases(turned: bool) -> tuple[bool, ...]:
        """Whether the profile holds at the next step: it may turn with an outcome, too."""
        return (True,) if turned or not assume else (False, True)

    for turned in phases(False):
        bindings = profile if turned else unknown
        for edge in possible_edges(d, bindings, list(grouped.get(None, {}).get(None, []))):
            leave(None, edge, turned)
    while queue:
        state = queue.popleft()
        for turned in phases(state[3]):
            bindings = profile if turned else unknown
            for branches in grouped.get(state[0], {}).values():
                for edge in possible_edges(d, bindings, branches):
                    leave(state, edge, turned)
        change(state)
    return found


def _truth(d: Definition, bindings: Bindings, text: str) -> Truth:
    try:
        guard: Guard = guards_of(d).get(text)
    except GuardInvalid:
        return Truth.UNKNOWN
    return bindings.evaluate(guard).truth


def _detour(edge: Edge, stage_id: str) -> Edge:
    """The edge an interrupt makes of ``edge``: same source and outcome, another stage."""
    return Edge(edge.source, edge.outcome, stage_id, Branch(to=stage_id), ("interrupts",))


def _render_path(path: list[Edge]) -> str:
    parts = ["start"]
    for edge in path:
        if edge.outcome == FACT_CHANGE:
            parts.append(f"-(a fact changes)-> {edge.target}")
        elif edge.outcome is None:
            parts.append(f"-> {edge.target}")
        elif edge.where == ("interrupts",):
            parts.append(f"-[{edge.outcome}]-> {edge.target} (interrupt)")
        else:
            parts.append(f"-[{edge.outcome}]-> {edge.target}")
    return " ".join(parts)


def verify(
    definition: Definition, *, source: SourceMap | None = None, file: str = "<definition>"
) -> list[Problem]:
    """Every problem of a schema-valid definition, located through ``source`` when given."""
    checker = _Checker(definition, source or SourceMap(), file)
    checker.check_declarations()
    checker.check_stages()
    checker.check_references()
    checker.check_fallbacks()
    checker.check_graph()
    checker.check_guards()
    checker.check_protections()
    return sorted(checker.problems, key=lambda p: (p.line, p.code, p.message))
