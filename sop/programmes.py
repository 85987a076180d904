"""Whether a programme can run: every stage's actor bound to an agency, and every stage acted
by another agency than the owner covered by an active agreement of the programme for that
stage's purpose and exactly its needs (DESIGN §7). Every fault is reported, per stage.

The owner is the agency whose case walks the SOP: it sends each other actor what its stage
needs, so for each such stage some agreement of the programme must be in force with owner
and actor as parties, list the stage's purpose, and let the owner send each needed category
to the actor.

A role may be bound to a list of agencies or, for a state role, per nationality
(:mod:`sop.bindings`): every agency that may act for the role, alternates included, must be
known and covered, since the journey may pick any of them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.agreements import AgreementState, AgreementStatus, effective_status, short_id
from contracts.categories import Category
from sop.bindings import Binding, agencies_of
from sop.durations import parse_duration
from sop.schema import Definition, Stage


@dataclass(frozen=True, slots=True)
class ProgrammeFault:
    code: str
    message: str
    stage: str | None = None
    role: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "stage": self.stage, "role": self.role}


def _gaps(agreement: AgreementState, stage: Stage, owner: str, actor: str) -> list[str]:
    gaps = []
    if agreement.terms.legal_basis.value != stage.legal_basis:
        gaps.append(
            f"rests on {agreement.terms.legal_basis.value}, not on {stage.legal_basis} as the "
            "stage does"
        )
    if stage.purpose is not None and stage.purpose not in agreement.terms.purposes:
        gaps.append(f"does not list purpose {stage.purpose}")
    for need in stage.needs:
        category = Category(need)
        if owner not in agreement.terms.senders_of(category):
            gaps.append(f"does not let {owner} send {need}")
        elif actor not in agreement.terms.recipients_of(category):
            gaps.append(f"does not let {actor} receive {need}")
    return gaps


def covering_agreement(
    stage: Stage,
    *,
    owner: str,
    actor: str,
    agreements: Sequence[AgreementState],
    now: datetime,
) -> AgreementState | None:
    """The first agreement in force that covers the stage's purpose and needs, if any."""
    for agreement in agreements:
        parties = set(agreement.terms.parties)
        if (
            {owner, actor} <= parties
            and effective_status(agreement, now) == AgreementStatus.ACTIVE
            and not _gaps(agreement, stage, owner, actor)
        ):
            return agreement
    return None


def deadline_faults(definition: Definition, deadlines: Mapping[str, str]) -> list[ProgrammeFault]:
    """Every reason the programme's deadlines cannot apply: an unknown or terminal stage, or a
    value that is not an ISO 8601 duration."""
    faults = []
    for stage_id, value in sorted(deadlines.items()):
        stage = definition.stage_map.get(stage_id)
        if stage is None or stage.terminal:
            faults.append(
                ProgrammeFault(
                    "deadline_stage_unknown",
                    f"{definition.ref} has no stage {stage_id} that a deadline could apply to",
                    stage=stage_id,
                )
            )
            continue
        try:
            parse_duration(value)
        except ValueError as error:
            faults.append(
                ProgrammeFault(
                    "deadline_invalid", f"deadline of {stage_id}: {error}", stage=stage_id
                )
            )
    return faults


def programme_faults(
    definition: Definition,
    *,
    owner: str,
    bindings: Mapping[str, Binding],
    agreements: Sequence[AgreementState],
    known_agencies: Collection[str],
    now: datetime,
) -> list[ProgrammeFault]:
    """Every reason the programme cannot run now; empty when it can."""
    faults: list[ProgrammeFault] = []
    for role, binding in sorted(bindings.items()):
        if role not in definition.roles:
            faults.append(
                ProgrammeFault("role_unknown", f"{definition.ref} has no role {role}", role=role)
            )
        faults.extend(
            ProgrammeFault(
                "agency_unknown",
                f"{agency} (bound to {role}) is not in the directory",
                role=role,
            )
            for agency in agencies_of(binding)
            if agency not in known_agencies
        )
    acting = [s for s in definition.stages if not s.terminal and s.actor is not None]
    unbound = sorted({s.actor for s in acting if s.actor is not None and s.actor not in bindings})
    for role in unbound:
        stages = ", ".join(s.id for s in acting if s.actor == role)
        faults.append(
            ProgrammeFault(
                "role_unbound", f"role {role} (acting at {stages}) is bound to no agency", role=role
            )
        )
    for stage in acting:
        bound = bindings.get(stage.actor or "")
        for actor in agencies_of(bound) if bound is not None else ():
            faults.extend(
                _stage_faults(stage, owner=owner, actor=actor, agreements=agreements, now=now)
            )
    return faults


def _stage_faults(
    stage: Stage,
    *,
    owner: str,
    actor: str,
    agreements: Sequence[AgreementState],
    now: datetime,
) -> list[ProgrammeFault]:
    """Why ``actor`` cannot act at ``stage`` for ``owner`` now; empty when it can."""
    if (
        actor == owner
        or covering_agreement(stage, owner=owner, actor=actor, agreements=agreements, now=now)
        is not None
    ):
        return []
    candidates = [a for a in agreements if {owner, actor} <= set(a.terms.parties)]
    if not candidates:
        return [
            ProgrammeFault(
                "no_agreement",
                f"stage {stage.id}: no agreement of the programme between {owner} and "
                f"{actor} ({stage.actor})",
                stage=stage.id,
                role=stage.actor,
            )
        ]
    faults = []
    for agreement in candidates:
        status = effective_status(agreement, now)
        label = f"agreement {short_id(agreement.id)} v{agreement.version}"
        reasons = _gaps(agreement, stage, owner, actor)
        if status != AgreementStatus.ACTIVE:
            reasons.insert(0, f"is {status.value}")
        faults.append(
            ProgrammeFault(
                "agreement_does_not_cover",
                f"stage {stage.id} ({stage.actor} = {actor}): {label} " + "; ".join(reasons),
                stage=stage.id,
                role=stage.actor,
            )
        )
    return faults
