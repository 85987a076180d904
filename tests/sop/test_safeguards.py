"""Safeguards that hold when the facts change (DESIGN §9): interrupts divert a journey to the
protection a late fact calls for, and a runtime guard refuses a departure or a forced removal
whose history lacks what the person's facts require, whatever the SOP says."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from sop import engine
from sop.errors import DecisionMissing, SafeguardMissing
from sop.loader import shipped_definition
from sop.schema import Branch, Definition
from tests.sop.conftest import ADULT, NOW, profile

DAY = timedelta(days=1)
BID_DECISION = engine.Decision(decided_by="unhcr/user:officer-7", decision_ref="BID-2025-014")


def walk(
    d: Definition,
    facts: Mapping[str, Any],
    *steps: tuple[str, str],
    agencies: Mapping[str, str] | None = None,
    by: Mapping[str, str] | None = None,
) -> engine.JourneyState:
    state = engine.start(d, facts, {}, NOW)
    for day, (stage, outcome) in enumerate(steps, start=1):
        state = engine.advance(
            d,
            state,
            stage,
            outcome,
            facts,
            {},
            NOW + day * DAY,
            by=(by or {}).get(stage),
            decision=BID_DECISION,
            agencies=agencies,
        ).state
    return state


ACCOMPANIED_CHILD = profile(is_child=True, age=15)


# -- interrupts ----------------------------------------------------------------------------


def test_a_child_identified_as_unaccompanied_at_counselling_is_diverted_to_the_bid(
    avrr: Definition,
) -> None:
    state = walk(avrr, ACCOMPANIED_CHILD, ("profiling", "profiled"))
    assert state.stage == "counselling"
    diverted = engine.divert(
        avrr, state, {**ACCOMPANIED_CHILD, "unaccompanied": True}, {}, NOW + 2 * DAY
    )
    assert diverted is not None
    assert diverted.stage == "bid"
    left = diverted.history[-2]
    assert (left.stage, left.outcome) == ("counselling", "diverted")
    assert left.because == ("unaccompanied",), "the fact's name, never its value"
    assert diverted.history[-1].because == ("unaccompanied",)
    assert engine.current_step(avrr, diverted).actor == "protection"


def test_a_trafficking_victim_identified_at_travel_documents_is_diverted_to_the_risk_assessment(
    avrr: Definition,
) -> None:
    state = walk(avrr, ADULT, ("profiling", "profiled"), ("counselling", "decided_to_return"))
    assert state.stage == "travel_documents"
    diverted = engine.divert(avrr, state, profile(trafficking_victim=True), {}, NOW + 3 * DAY)
    assert diverted is not None
    assert diverted.stage == "trafficking_risk_assessment"
    assert diverted.history[-2].outcome == "diverted"
    assert diverted.history[-2].because == ("trafficking_victim",)


def test_a_fact_that_requires_nothing_new_does_not_divert(avrr: Definition) -> None:
    state = walk(avrr, ADULT, ("profiling", "profiled"))
    assert engine.divert(avrr, state, profile(host_language="good"), {}, NOW) is None


def test_a_safeguard_in_progress_is_not_interrupted_and_the_next_one_follows(
    avrr: Definition,
) -> None:
    victim = profile(trafficking_victim=True)
    state = walk(avrr, victim, ("profiling", "profiled"))
    assert state.stage == "trafficking_risk_assessment"
    now_stateless = {**victim, "stateless": True}
    assert engine.divert(avrr, state, now_stateless, {}, NOW) is None
    state = walk(
        avrr,
        now_stateless,
        ("profiling", "profiled"),
        ("trafficking_risk_assessment", "low_risk"),
        ("protection_needs_analysis", "no_protection_needs"),
    )
    assert state.stage == "statelessness_documentation"


def test_leaving_a_stage_leads_first_to_a_safeguard_the_facts_now_require(
    avrr: Definition,
) -> None:
    # The origin authority issues the document; meanwhile the person was found stateless.
    state = walk(avrr, ADULT, ("profiling", "profiled"), ("counselling", "decided_to_return"))
    step = engine.advance(
        avrr, state, "travel_documents", "issued", profile(stateless=True), {}, NOW + 4 * DAY
    )
    assert step.entered == "statelessness_documentation"
    assert step.state.history[-1].because == ("stateless",)


def test_an_ended_journey_is_not_diverted(avrr: Definition) -> None:
    state = walk(avrr, ADULT, ("profiling", "profiled"), ("counselling", "declined"))
    assert state.ended
    assert engine.divert(avrr, state, profile(trafficking_victim=True), {}, NOW) is None


# -- assessments that can stop a return ----------------------------------------------------


def test_a_high_risk_assessment_never_reaches_departure(avrr: Definition) -> None:
    victim = profile(trafficking_victim=True)
    state = walk(
        avrr, victim, ("profiling", "profiled"), ("trafficking_risk_assessment", "high_risk")
    )
    assert state.stage == "protection_referral"
    assert state.ended, "no outcome is left that could lead to departure"


def test_a_best_interests_determination_may_find_the_solution_elsewhere(
    avrr: Definition,
) -> None:
    child = profile(is_child=True, unaccompanied=True, age=15)
    for outcome in ("local_solution", "third_country_solution"):
        state = walk(avrr, child, ("profiling", "profiled"), ("bid", outcome))
        assert state.ended
        assert state.stage == outcome


def test_a_bid_is_recorded_with_who_decided_and_the_written_decision(avrr: Definition) -> None:
    child = profile(is_child=True, unaccompanied=True, age=15)
    state = walk(avrr, child, ("profiling", "profiled"), ("bid", "return_in_best_interests"))
    bid = next(entry for entry in state.history if entry.stage == "bid")
    assert bid.decided_by == "unhcr/user:officer-7"
    assert bid.decision_ref == "BID-2025-014"


def test_a_bid_without_the_reference_of_its_written_decision_is_refused(
    avrr: Definition,
) -> None:
    child = profile(is_child=True, unaccompanied=True, age=15)
    state = walk(avrr, child, ("profiling", "profiled"))
    for decision in (None, engine.Decision(decided_by="unhcr/user:officer-7")):
        with pytest.raises(DecisionMissing, match="decision_ref"):
            engine.advance(
                avrr, state, "bid", "return_in_best_interests", child, {}, NOW, decision=decision
            )


# -- the runtime guard ---------------------------------------------------------------------


def skipping_the_bid(avrr: Definition) -> Definition:
    """A hand-edited SOP: no interrupts, and profiling leads straight to counselling. It would
    fail verification; the engine must refuse it anyway."""
    stages = tuple(
        s.model_copy(update={"outcomes": {"profiled": (Branch(to="counselling"),)}})
        if s.id == "profiling"
        else s
        for s in avrr.stages
    )
    return avrr.model_copy(update={"stages": stages, "interrupts": ()})


def test_a_departure_without_the_bid_is_refused_even_when_the_sop_skips_it(
    avrr: Definition,
) -> None:
    edited = skipping_the_bid(avrr)
    child = profile(is_child=True, unaccompanied=True, age=15)
    state = walk(edited, child, ("profiling", "profiled"), ("counselling", "decided_to_return"))
    with pytest.raises(SafeguardMissing) as refused:
        engine.advance(edited, state, "travel_documents", "issued", child, {}, NOW)
    assert refused.value.stage == "escorted_departure"
    assert refused.value.missing == ("bid",)
    assert "unaccompanied" not in str(refused.value), "the reason names the stage, not the fact"


def test_an_adult_with_no_specific_needs_departs_on_the_same_edited_sop(
    avrr: Definition,
) -> None:
    edited = skipping_the_bid(avrr)
    state = walk(
        edited,
        ADULT,
        ("profiling", "profiled"),
        ("counselling", "decided_to_return"),
        ("travel_documents", "issued"),
    )
    assert state.stage == "departure"


def test_the_guard_re_checks_the_stage_a_journey_is_at_before_its_referral_is_approved(
    avrr: Definition,
) -> None:
    state = walk(
        avrr,
        ADULT,
        ("profiling", "profiled"),
        ("counselling", "decided_to_return"),
        ("travel_documents", "issued"),
    )
    assert state.stage == "departure"
    engine.check_safeguards(avrr, state, ADULT, {})
    with pytest.raises(SafeguardMissing) as refused:
        engine.check_safeguards(avrr, state, profile(trafficking_victim=True), {})
    assert set(refused.value.missing) == {
        "trafficking_risk_assessment",
        "protection_needs_analysis",
    }, "every missing safeguard, not just the first"


# -- enforcement, the host authority's own process -----------------------------------------


@pytest.fixture(scope="module")
def enforcement() -> Definition:
    return shipped_definition("enforcement")


HOST = {"host_authority": "gov-host", "origin_authority": "gov-rs", "monitor": "ombudsperson"}
TO_REMOVAL = (
    ("enforcement_review", "enforce"),
    ("readmission_request", "accepted"),
    ("independent_monitoring", "monitor_assigned"),
)
ADULT_ENFORCED = {k: ADULT[k] for k in ("is_child", "unaccompanied", "separated")} | {
    "trafficking_victim": False,
    "stateless": False,
}


def test_a_forced_removal_goes_ahead_with_an_independent_monitor_assigned(
    enforcement: Definition,
) -> None:
    state = walk(
        enforcement,
        ADULT_ENFORCED,
        *TO_REMOVAL,
        agencies=HOST,
        by={"independent_monitoring": "ombudsperson"},
    )
    assert state.stage == "forced_removal"
    assert all(s.legal_basis == "legal_obligation" for s in enforcement.stages if s.actor)


def test_a_forced_removal_monitored_by_the_host_authority_itself_is_refused(
    enforcement: Definition,
) -> None:
    with pytest.raises(SafeguardMissing) as refused:
        walk(
            enforcement,
            ADULT_ENFORCED,
            *TO_REMOVAL,
            agencies={**HOST, "monitor": "gov-host"},
            by={"independent_monitoring": "gov-host"},
        )
    assert refused.value.missing == ("independent_monitoring",)
    assert "other than the one carrying out the removal" in str(refused.value)


def test_a_trafficking_victim_identified_during_enforcement_is_referred_and_not_removed(
    enforcement: Definition,
) -> None:
    state = walk(enforcement, ADULT_ENFORCED, ("enforcement_review", "enforce"))
    assert state.stage == "readmission_request"
    diverted = engine.divert(
        enforcement, state, {**ADULT_ENFORCED, "trafficking_victim": True}, {}, NOW
    )
    assert diverted is not None
    assert diverted.stage == "protection_referral"
    assert engine.allowed_outcomes(enforcement, diverted) == ("referred",)
