"""The SOP engine: pure functions from (definition, journey state, outcome, facts) to the next
stage and what the caller must do about it.

No I/O and no clock: the caller passes ``now``, persists the returned :class:`JourneyState`,
and drafts the referral the returned :class:`Step` describes (the acting role, exactly the
stage's ``needs``, its purpose and deadline; DESIGN §7). A journey is pinned to the definition
version it started on; handing it another version is an error, never a silent migration.

The engine expects a verified definition (:func:`sop.loader.load_text` verifies on load). Guard
semantics, including unknown facts, are those of :mod:`sop.guards`: a choice that depends on
a fact the case does not have raises :class:`~sop.errors.MissingFacts` and changes nothing.
Derived facts (:func:`sop.free_movement.derive_facts`) are computed here from the facts and
the programme's parameters, whichever caller binds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from sop.durations import parse_duration
from sop.errors import (
    DecisionMissing,
    DefinitionMismatch,
    GuardError,
    JourneyEnded,
    MissingFacts,
    NoEligibleStage,
    OutcomeNotAllowed,
    SafeguardMissing,
    StageMismatch,
)
from sop.free_movement import derive_facts
from sop.guards import (
    ALWAYS,
    Bindings,
    Guard,
    GuardInvalid,
    Truth,
    Verdict,
    bind_facts,
    bind_params,
    guards_of,
)
from sop.safeguards import (
    DIVERTED,
    completed,
    interrupt_due,
    is_guarded,
    is_safeguard,
    missing_before,
)
from sop.schema import Branch, Definition, Stage, StageKind


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HistoryEntry(_Frozen):
    """A visit to a stage: entered ``at``, left with ``outcome`` at ``left_at`` (None while
    the journey is still there), recorded ``by`` an agency. A decision stage's outcome carries
    who decided and the reference of the written decision. A visit begun or ended by an
    interrupt names the facts ``because`` of which, never their values."""

    stage: str
    at: AwareDatetime
    outcome: str | None = None
    left_at: AwareDatetime | None = None
    by: str | None = None
    decided_by: str | None = None
    decision_ref: str | None = None
    because: tuple[str, ...] = ()


class Decision(_Frozen):
    """Who took a written decision (a principal, ``agency/user:...``) and its reference."""

    decided_by: str
    decision_ref: str | None = None


class JourneyState(_Frozen):
    """Where a case is on an SOP. Immutable: every transition returns a new state."""

    definition_id: str
    definition_version: str
    stage: str
    entered_at: AwareDatetime
    due_at: AwareDatetime | None
    history: tuple[HistoryEntry, ...]
    ended: bool = False

    @property
    def ref(self) -> str:
        return f"{self.definition_id}@{self.definition_version}"

    def visited(self) -> tuple[str, ...]:
        """Stage ids in the order they were entered, the current one last."""
        return tuple(entry.stage for entry in self.history)


class Step(_Frozen):
    """The result of a transition: the new state and what the caller must do for the stage
    just entered (draft a referral to ``actor`` with exactly ``needs`` for ``purpose``)."""

    state: JourneyState
    entered: str
    actor: str | None
    needs: tuple[str, ...]
    purpose: str | None
    due_at: AwareDatetime | None
    kind: tuple[StageKind, ...]
    ended: bool


class Overdue(_Frozen):
    """A stage whose deadline has passed (DESIGN §1: readmission time frames)."""

    stage: str
    actor: str | None
    due_at: AwareDatetime
    overdue_by: timedelta


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware; journeys are timed in UTC")


def _due(
    stage: Stage, now: datetime, deadlines: Mapping[str, str] | None = None
) -> datetime | None:
    """When the stage is due: the programme's deadline for it (a readmission agreement's time
    frame), else the SOP's default."""
    due = (deadlines or {}).get(stage.id) or stage.due
    return parse_duration(due).after(now) if due is not None else None


def _pin(definition: Definition, state: JourneyState) -> None:
    if (state.definition_id, state.definition_version) != (definition.id, definition.version):
        raise DefinitionMismatch(state.ref, definition.ref)


@dataclass(frozen=True, slots=True)
class _Way:
    """A branch with what choosing it reads: its target (None if the definition has no such
    stage), and the branch guard and the target's entry condition, each looked up (a
    :class:`GuardInvalid` when it cannot be used; None when there is none)."""

    branch: Branch
    target: Stage | None
    edge: Guard | GuardInvalid | None
    entry: Guard | GuardInvalid | None


def _route(definition: Definition, branches: tuple[Branch, ...]) -> tuple[_Way, ...]:
    """The ways of ``branches``, looked up once per definition (:meth:`GuardTable.derived`)."""
    table = guards_of(definition)

    def build() -> tuple[_Way, ...]:
        stages = definition.stage_map
        ways = []
        for branch in branches:
            target = stages.get(branch.to)
            edge = table.lookup(branch.when) if branch.when is not None else None
            when = target.when if target is not None else None
            entry = table.lookup(when) if when is not None else None
            ways.append(_Way(branch, target, edge, entry))
        return tuple(ways)

    return table.derived("route", branches, build)


def _verdict(
    bindings: Bindings | None, text: str | None, guard: Guard | GuardInvalid | None
) -> Verdict:
    """The verdict of guard ``text`` on ``bindings``; with none, only that it is usable."""
    if guard is None:
        return ALWAYS
    if isinstance(guard, GuardInvalid):
        raise GuardError(text or "", str(guard)) from guard
    return bindings.evaluate(guard) if bindings is not None else ALWAYS


def _choose(
    definition: Definition,
    branches: tuple[Branch, ...],
    bindings: Bindings,
    *,
    stage: str,
    outcome: str,
    done: frozenset[str] = frozenset(),
) -> Stage:
    """The first branch whose guard and target entry condition both hold (module docstring),
    passing over a stage marked ``once`` that the journey has completed (``done``)."""
    for way in _route(definition, branches):
        branch, target = way.branch, way.target
        if target is None:
            raise NoEligibleStage(stage=stage, outcome=outcome)
        if target.once and target.id in done:
            continue
        edge = ALWAYS if way.edge is None else _verdict(bindings, branch.when, way.edge)
        if edge.truth is Truth.FALSE:
            # False whatever the entry condition says (Kleene: false wins); it is still looked
            # at, so that an entry condition that is not a guard is refused as before.
            if way.entry is not None:
                _verdict(None, target.when, way.entry)
            continue
        entry = ALWAYS if way.entry is None else _verdict(bindings, target.when, way.entry)
        truth = edge.truth.and_(entry.truth)
        if truth is Truth.TRUE:
            return target
        if truth is Truth.FALSE:
            continue
        missing = edge.missing | entry.missing
        if not missing:
            failing = branch.when if edge.truth is Truth.UNKNOWN else target.when
            error = edge.error if edge.truth is Truth.UNKNOWN else entry.error
            raise GuardError(failing or "", error or "did not evaluate to a bool")
        raise MissingFacts(
            stage=stage,
            missing=missing,
            reason=f"choosing where outcome {outcome!r} leads (branch to {branch.to!r})",
        )
    raise NoEligibleStage(stage=stage, outcome=outcome)


@dataclass(frozen=True, slots=True)
class _Bound:
    """A call's facts and parameters, bound once: converted (``facts``, ``params``) and ready
    for CEL (``bindings``), shared by the branch guards and the interrupts."""

    facts: dict[str, Any]
    params: dict[str, Any]
    bindings: Bindings


def _bindings(
    definition: Definition, facts: Mapping[str, Any], params: Mapping[str, Any] | None
) -> _Bound:
    # Derived facts (the free-movement area, from nationality and the host country) are
    # computed here, so that every caller of the engine sees the same value.
    bound_params = bind_params(definition.params, params or {})
    bound = bind_facts(definition.facts, derive_facts(definition.facts, facts, bound_params))
    return _Bound(bound, bound_params, Bindings(bound, bound_params))


def _step(definition: Definition, state: JourneyState) -> Step:
    stage = definition.stage(state.stage)
    return Step(
        state=state,
        entered=stage.id,
        actor=stage.actor,
        needs=stage.needs,
        purpose=stage.purpose,
        due_at=state.due_at,
        kind=stage.kind,
        ended=state.ended,
    )


def start(
    definition: Definition,
    facts: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    now: datetime,
    *,
    agencies: Mapping[str, str] | None = None,
    deadlines: Mapping[str, str] | None = None,
) -> JourneyState:
    """A new journey at the first ``start`` branch that applies to these facts.

    Raises :class:`MissingFacts` when that cannot be decided, :class:`~sop.errors.InvalidFacts`
    when facts or parameters do not have their declared types.
    """
    _require_aware(now)
    bound = _bindings(definition, facts, params)
    stage = _choose(definition, definition.start, bound.bindings, stage="start", outcome="start")
    _guard(definition, (), stage, bound.facts, agencies)
    return JourneyState(
        definition_id=definition.id,
        definition_version=definition.version,
        stage=stage.id,
        entered_at=now,
        due_at=_due(stage, now, deadlines),
        history=(HistoryEntry(stage=stage.id, at=now),),
        ended=stage.terminal,
    )


def current_step(definition: Definition, state: JourneyState) -> Step:
    """What the journey waits for now: the current stage's actor, needs, purpose and deadline."""
    _pin(definition, state)
    return _step(definition, state)


def allowed_outcomes(definition: Definition, state: JourneyState) -> tuple[str, ...]:
    """The outcomes the current stage's actor may record (none once the journey has ended)."""
    _pin(definition, state)
    if state.ended:
        return ()
    return tuple(definition.outcomes_at(state.stage))


def advance(
    definition: Definition,
    state: JourneyState,
    stage: str,
    outcome: str,
    facts: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    now: datetime,
    *,
    by: str | None = None,
    decision: Decision | None = None,
    agencies: Mapping[str, str] | None = None,
    deadlines: Mapping[str, str] | None = None,
) -> Step:
    """Record ``outcome`` at ``stage`` and move the journey on.

    ``stage`` must be the current stage (a completion for a stage the journey has left is
    refused, not applied to whatever stage it is at now) and ``outcome`` one of its outcomes
    or an ``always`` one (``withdraw``, valid at every stage: AVRR principle). Otherwise
    :class:`OutcomeNotAllowed` (or its subclasses :class:`StageMismatch`,
    :class:`JourneyEnded`) carries the outcomes allowed now and the acting role.

    ``facts`` are the case's facts as they stand now (an outcome often comes with new ones);
    facts the stage ``records`` must be among them.
    """
    _require_aware(now)
    _pin(definition, state)
    if state.ended:
        raise JourneyEnded(current=state.stage, stage=stage, outcome=outcome)
    current = definition.stage(state.stage)
    outcomes = definition.outcomes_at(current.id)
    if stage != current.id:
        raise StageMismatch(
            current=current.id, stage=stage, outcome=outcome, allowed=outcomes, actor=current.actor
        )
    branches = outcomes.get(outcome)
    if branches is None:
        raise OutcomeNotAllowed(
            f"outcome {outcome!r} is not allowed at stage {stage!r}; allowed: "
            + ", ".join(outcomes),
            stage=stage,
            outcome=outcome,
            allowed=outcomes,
            actor=current.actor,
        )
    bound = _bindings(definition, facts, params)
    if outcome in current.outcomes:
        unrecorded = [fact for fact in current.records if fact not in bound.facts]
        if unrecorded:
            raise MissingFacts(
                stage=stage, missing=unrecorded, reason=f"recording outcome {outcome!r}"
            )
    own = outcome in current.outcomes
    if own and current.decision and (decision is None or not decision.decision_ref):
        raise DecisionMissing(stage=stage, outcome=outcome)
    recorded: dict[str, Any] = {"outcome": outcome, "left_at": now, "by": by}
    if own and current.decision and decision is not None:
        recorded |= decision.model_dump()
    left = state.history[-1].model_copy(update=recorded)
    history = (*state.history[:-1], left)
    done = frozenset(visit.stage for visit in completed(definition, history))
    target = _choose(definition, branches, bound.bindings, stage=stage, outcome=outcome, done=done)
    entry = HistoryEntry(stage=target.id, at=now)
    if not target.terminal:
        # Leaving any stage leads first to a safeguard the facts require and the journey has
        # not completed, wherever the outcome pointed (DESIGN §9).
        due = interrupt_due(definition, history, bound.facts, bound.params, bindings=bound.bindings)
        if due is not None and due.interrupt.stage != target.id:
            target = definition.stage(due.interrupt.stage)
            entry = HistoryEntry(stage=target.id, at=now, because=due.facts)
    _guard(definition, history, target, bound.facts, agencies)
    new_state = JourneyState(
        definition_id=state.definition_id,
        definition_version=state.definition_version,
        stage=target.id,
        entered_at=now,
        due_at=_due(target, now, deadlines),
        history=(*history, entry),
        ended=target.terminal,
    )
    return _step(definition, new_state)


def _guard(
    definition: Definition,
    history: tuple[HistoryEntry, ...],
    target: Stage,
    bound: Mapping[str, Any],
    agencies: Mapping[str, str] | None,
) -> None:
    """The runtime guard: a guarded stage is entered only on a history that holds what the
    facts require (:func:`sop.safeguards.missing_before`)."""
    if not is_guarded(target):
        return
    acting = (agencies or {}).get(target.actor or "")
    missing = missing_before(definition, history, target, bound, acting=acting)
    if missing:
        raise SafeguardMissing(
            stage=target.id,
            missing=[m.kind.value for m in missing],
            reasons=[m.reason for m in missing],
        )


def check_safeguards(
    definition: Definition,
    state: JourneyState,
    facts: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    *,
    agencies: Mapping[str, str] | None = None,
) -> None:
    """The runtime guard for the stage the journey is at (before its referral is approved):
    raises :class:`~sop.errors.SafeguardMissing` when the history lacks what the facts now
    require."""
    _pin(definition, state)
    bound = _bindings(definition, facts, params)
    _guard(definition, state.history[:-1], definition.stage(state.stage), bound.facts, agencies)


def divert(
    definition: Definition,
    state: JourneyState,
    facts: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    now: datetime,
    *,
    agencies: Mapping[str, str] | None = None,
    deadlines: Mapping[str, str] | None = None,
) -> JourneyState | None:
    """A fact changed: the journey's new state if an interrupt takes it elsewhere, else None.

    The first interrupt whose condition holds and whose stage the journey has not completed
    diverts it there at once; the stage it was at is left with outcome ``diverted``, naming
    the facts (never their values). A journey at a stage that is itself a safeguard stays
    there: the next safeguard follows when it ends.
    """
    _require_aware(now)
    _pin(definition, state)
    if state.ended:
        return None
    current = definition.stage(state.stage)
    if is_safeguard(current):
        return None
    bound = _bindings(definition, facts, params)
    due = interrupt_due(
        definition, state.history, bound.facts, bound.params, bindings=bound.bindings
    )
    if due is None or due.interrupt.stage == current.id:
        return None
    target = definition.stage(due.interrupt.stage)
    left = state.history[-1].model_copy(
        update={"outcome": DIVERTED, "left_at": now, "because": due.facts}
    )
    _guard(definition, (*state.history[:-1], left), target, bound.facts, agencies)
    return JourneyState(
        definition_id=state.definition_id,
        definition_version=state.definition_version,
        stage=target.id,
        entered_at=now,
        due_at=_due(target, now, deadlines),
        history=(
            *state.history[:-1],
            left,
            HistoryEntry(stage=target.id, at=now, because=due.facts),
        ),
        ended=target.terminal,
    )


def overdue(definition: Definition, state: JourneyState, now: datetime) -> list[Overdue]:
    """The journey's stages past their deadline at ``now``: the current one, if it is.

    A list because a sweep handles many journeys the same way, and so that stages running in
    parallel, should an SOP ever have them, need no change of signature.
    """
    _require_aware(now)
    _pin(definition, state)
    if state.ended or state.due_at is None or now <= state.due_at:
        return []
    stage = definition.stage(state.stage)
    return [
        Overdue(
            stage=stage.id, actor=stage.actor, due_at=state.due_at, overdue_by=now - state.due_at
        )
    ]
