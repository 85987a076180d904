"""Domain errors raised by the SOP package.

They carry structured members (allowed outcomes, acting role, missing facts) so that
``services`` can render them as RFC 9457 problem documents without parsing messages; this
package never imports HTTP types (STYLE "Errors").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sop.problems import Problem


class SopError(Exception):
    """Base of every error this package raises on purpose."""


class DefinitionInvalid(SopError):
    """A definition failed to parse, validate or verify; ``problems`` lists every finding."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        shown = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"invalid SOP definition: {shown}{more}")


class DefinitionMismatch(SopError):
    """A journey is pinned to one definition version and was handed another (DESIGN §7)."""

    def __init__(self, pinned: str, given: str) -> None:
        self.pinned = pinned
        self.given = given
        super().__init__(f"journey is pinned to {pinned}, not {given}")


class OutcomeNotAllowed(SopError):
    """The outcome cannot be recorded: wrong outcome for the stage, wrong stage, or ended.

    ``allowed`` is what may be recorded now and ``actor`` is the SOP role that records it, so
    the caller can tell the agency what it can do instead.
    """

    def __init__(
        self,
        message: str,
        *,
        stage: str,
        outcome: str,
        allowed: Iterable[str],
        actor: str | None,
    ) -> None:
        self.stage = stage
        self.outcome = outcome
        self.allowed = tuple(allowed)
        self.actor = actor
        super().__init__(message)


class StageMismatch(OutcomeNotAllowed):
    """The outcome names a stage the journey is not at (e.g. a late or replayed completion)."""

    def __init__(
        self, *, current: str, stage: str, outcome: str, allowed: Iterable[str], actor: str | None
    ) -> None:
        self.current = current
        super().__init__(
            f"the journey is at stage {current!r}, not {stage!r}",
            stage=stage,
            outcome=outcome,
            allowed=allowed,
            actor=actor,
        )


class JourneyEnded(OutcomeNotAllowed):
    """The journey reached a terminal stage; nothing more can be recorded on it."""

    def __init__(self, *, current: str, stage: str, outcome: str) -> None:
        self.current = current
        super().__init__(
            f"the journey ended at stage {current!r}",
            stage=stage,
            outcome=outcome,
            allowed=(),
            actor=None,
        )


class MissingFacts(SopError):
    """A guard cannot be decided without facts the case does not have yet.

    The engine fails closed: it never guesses a protection fact (an unknown ``unaccompanied``
    read as false would route a child past the best-interests determination).
    """

    def __init__(self, *, stage: str, missing: Iterable[str], reason: str) -> None:
        self.stage = stage
        self.missing = tuple(sorted(set(missing)))
        self.reason = reason
        super().__init__(f"{reason} at stage {stage!r} needs the facts: {', '.join(self.missing)}")


class InvalidFacts(SopError):
    """Facts or parameters do not have the types the definition declares."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class GuardError(SopError):
    """A guard failed for a reason other than a missing fact (a type error in the guard)."""

    def __init__(self, source: str, error: str) -> None:
        self.source = source
        self.error = error
        super().__init__(f"guard {source!r} failed: {error}")


class NoEligibleStage(SopError):
    """No branch of the outcome applies to these facts. Verified definitions cannot raise this:
    the verifier requires every outcome to end with an unguarded fallback."""

    def __init__(self, *, stage: str, outcome: str) -> None:
        self.stage = stage
        self.outcome = outcome
        super().__init__(f"no branch of outcome {outcome!r} at stage {stage!r} applies")


class SafeguardMissing(SopError):
    """The journey's history lacks a safeguard the person's current facts require before the
    stage it is about to enter (DESIGN §9, the runtime guard). ``missing`` names the stage
    kinds (``bid``), never the facts that require them."""

    def __init__(self, *, stage: str, missing: Iterable[str], reasons: Iterable[str]) -> None:
        self.stage = stage
        self.missing = tuple(dict.fromkeys(missing))
        self.reasons = tuple(reasons)
        super().__init__(f"stage {stage!r} cannot be entered: " + "; ".join(self.reasons))


class DecisionMissing(SopError):
    """A decision stage's outcome came without the reference of the written decision."""

    def __init__(self, *, stage: str, outcome: str) -> None:
        self.stage = stage
        self.outcome = outcome
        super().__init__(
            f"outcome {outcome!r} at stage {stage!r} is a written decision: record it with "
            "decision_ref, the reference of the decision document"
        )
