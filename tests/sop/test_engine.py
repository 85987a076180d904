"""The SOP engine on the shipped joint SOP: who acts next, on what data, and what may not happen."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sop import engine
from sop.errors import (
    DefinitionMismatch,
    GuardError,
    InvalidFacts,
    JourneyEnded,
    MissingFacts,
    OutcomeNotAllowed,
    StageMismatch,
)
from sop.guards import guards_of
from sop.loader import shipped_definition
from sop.schema import Definition, StageKind
from tests.sop.conftest import (
    ADULT,
    NOW,
    SEPARATED_CHILD,
    STATELESS,
    TRAFFICKING_VICTIM,
    UNACCOMPANIED_CHILD,
    profile,
)

DAY = timedelta(days=1)

DECIDED = engine.Decision(decided_by="unhcr/user:protection-officer", decision_ref="BID-2025-014")
"""A written decision, for the stages whose outcome is one (the others ignore it)."""


def walk(d: Definition, facts: Mapping[str, Any], *steps: tuple[str, str]) -> engine.Step:
    """Start a journey and record ``(stage, outcome)`` steps, one day apart."""
    state = engine.start(d, facts, {}, NOW)
    step = engine.current_step(d, state)
    for day, (stage, outcome) in enumerate(steps, start=1):
        step = engine.advance(
            d, step.state, stage, outcome, facts, {}, NOW + day * DAY, decision=DECIDED
        )
    return step


def kinds_before(d: Definition, state: engine.JourneyState) -> set[StageKind]:
    """Stage kinds the journey passed before its current stage."""
    return {kind for entry in state.history[:-1] for kind in d.stage(entry.stage).kind}


def explore(d: Definition, facts: Mapping[str, Any]) -> Iterator[engine.JourneyState]:
    """Every state the engine can reach for a case with these facts, whatever the outcomes.

    Exhaustive: breadth first over (stage, kinds passed), which is finite even though the SOP
    has loops (counselling again later). Withdrawal is left out: it only ends journeys.
    """
    first = engine.start(d, facts, {}, NOW)
    seen: set[tuple[str, frozenset[StageKind]]] = {(first.stage, frozenset())}
    queue = deque([first])
    while queue:
        state = queue.popleft()
        yield state
        for outcome in engine.allowed_outcomes(d, state):
            if outcome == "withdraw":
                continue
            nxt = engine.advance(
                d, state, state.stage, outcome, facts, {}, NOW, decision=DECIDED
            ).state
            key = (nxt.stage, frozenset(kinds_before(d, nxt)))
            if key not in seen:
                seen.add(key)
                queue.append(nxt)


def departures(d: Definition, facts: Mapping[str, Any]) -> list[engine.JourneyState]:
    return [s for s in explore(d, facts) if StageKind.DEPARTURE in d.stage(s.stage).kind]


MONITORING = {"willing_to_remain": True, "social_and_economic_participation": True}


# -- the SOP, as the roundtable wrote it ---------------------------------------------------


def test_unaccompanied_child_cannot_depart_without_bid(avrr: Definition) -> None:
    facts = {**UNACCOMPANIED_CHILD, **MONITORING}
    step = walk(avrr, facts, ("profiling", "profiled"))
    assert step.entered == "bid"
    assert step.actor == "protection"
    assert step.purpose == "best-interests-determination"
    reached = departures(avrr, facts)
    assert reached, "return stays possible once the BID finds it in the child's best interests"
    for state in reached:
        assert StageKind.BID in kinds_before(avrr, state), state.visited()


def test_separated_child_cannot_depart_without_bid(avrr: Definition) -> None:
    facts = {**SEPARATED_CHILD, **MONITORING}
    for state in departures(avrr, facts):
        assert StageKind.BID in kinds_before(avrr, state), state.visited()


def test_child_departs_with_an_escort(avrr: Definition) -> None:
    step = walk(
        avrr,
        UNACCOMPANIED_CHILD,
        ("profiling", "profiled"),
        ("bid", "return_in_best_interests"),
        ("counselling", "decided_to_return"),
        ("travel_documents", "issued"),
    )
    assert step.entered == "escorted_departure"
    assert "health" in step.needs


def test_bid_can_find_the_solution_in_the_host_country(avrr: Definition) -> None:
    step = walk(avrr, UNACCOMPANIED_CHILD, ("profiling", "profiled"), ("bid", "local_solution"))
    assert step.entered == "local_solution"
    assert step.ended


def test_trafficking_victim_passes_risk_assessment_before_return(avrr: Definition) -> None:
    facts = {**TRAFFICKING_VICTIM, **MONITORING}
    step = walk(avrr, facts, ("profiling", "profiled"))
    assert step.entered == "trafficking_risk_assessment"
    assert "protection" in step.needs
    returns = [
        state
        for state in explore(avrr, facts)
        if {StageKind.DEPARTURE, StageKind.FORCED_REMOVAL} & set(avrr.stage(state.stage).kind)
    ]
    assert returns
    for state in returns:
        passed = kinds_before(avrr, state)
        assert StageKind.TRAFFICKING_RISK_ASSESSMENT in passed, state.visited()
        assert StageKind.PROTECTION_NEEDS_ANALYSIS in passed, state.visited()


def test_trafficked_child_has_risk_assessment_then_bid(avrr: Definition) -> None:
    child = profile(is_child=True, trafficking_victim=True, age=14)
    step = walk(avrr, child, ("profiling", "profiled"), ("trafficking_risk_assessment", "low_risk"))
    assert step.entered == "bid"
    step = walk(
        avrr,
        child,
        ("profiling", "profiled"),
        ("trafficking_risk_assessment", "low_risk"),
        ("bid", "return_in_best_interests"),
    )
    assert step.entered == "protection_needs_analysis"


def test_stateless_person_is_documented_before_travel_documents(avrr: Definition) -> None:
    facts = {**STATELESS, **MONITORING}
    assert walk(avrr, facts, ("profiling", "profiled")).entered == "statelessness_documentation"
    for state in explore(avrr, facts):
        if StageKind.TRAVEL_DOCUMENTS in avrr.stage(state.stage).kind:
            assert StageKind.STATELESSNESS_DOCUMENTATION in kinds_before(avrr, state)


def test_a_declined_counselling_sends_nothing_anywhere(avrr: Definition) -> None:
    step = walk(avrr, ADULT, ("profiling", "profiled"), ("counselling", "declined"))
    assert step.entered == "return_declined"
    assert step.ended
    assert step.actor is None
    assert step.needs == ()
    assert not any(
        set(stage.kind) & {StageKind.ENFORCEMENT_REVIEW, StageKind.FORCED_REMOVAL}
        for stage in avrr.stages
    ), "enforcement is the host authority's own SOP, not the joint one"


def test_a_declined_counselling_re_checks_the_alternatives_first(avrr: Definition) -> None:
    # Not eligible when profiled; by the time counselling ends, the stay has become long.
    state = walk(avrr, ADULT, ("profiling", "profiled")).state
    long_stay = profile(years_in_host_country=7.0, host_language="good")
    step = engine.advance(avrr, state, "counselling", "declined", long_stay, {}, NOW + DAY)
    assert step.entered == "hardship_commission"
    # Heard once: after its answer, declining return again ends the journey.
    step = walk(
        avrr,
        long_stay,
        ("profiling", "profiled"),
        ("hardship_commission", "not_recommended"),
        ("counselling", "declined"),
    )
    assert step.entered == "return_declined"


def test_person_eligible_for_regularization_goes_to_regularization_review_not_counselling(
    avrr: Definition,
) -> None:
    eligible = profile(
        years_in_host_country=7.0, proof_of_work=True, social_contributions=True, age=41
    )
    step = walk(avrr, eligible, ("profiling", "profiled"))
    assert step.entered == "regularization_review"
    assert step.actor == "host_authority"
    assert set(step.needs) == {"identity", "documents", "skills"}
    refused = walk(avrr, eligible, ("profiling", "profiled"), ("regularization_review", "refused"))
    assert refused.entered == "counselling", "counselling again after a negative decision"


def test_regularization_programme_can_restrict_nationalities(avrr: Definition) -> None:
    eligible = profile(
        years_in_host_country=7.0, proof_of_work=True, social_contributions=True, age=41
    )
    state = engine.start(avrr, eligible, {}, NOW)
    params = {"eligible_nationalities": ["PRY", "BOL"]}
    step = engine.advance(avrr, state, "profiling", "profiled", eligible, params, NOW)
    assert step.entered == "counselling"


def test_hardship_commission_recommends_and_ministry_endorses(avrr: Definition) -> None:
    long_stay = profile(years_in_host_country=9.0, host_language="good", children_in_school=True)
    step = walk(avrr, long_stay, ("profiling", "profiled"))
    assert (step.entered, step.actor) == ("hardship_commission", "hardship_commission")
    step = walk(
        avrr,
        long_stay,
        ("profiling", "profiled"),
        ("hardship_commission", "recommended"),
    )
    assert (step.entered, step.actor) == ("hardship_endorsement", "interior_ministry")
    assert "health" not in step.needs, "the ministry does not see the health file"
    step = walk(
        avrr,
        long_stay,
        ("profiling", "profiled"),
        ("hardship_commission", "recommended"),
        ("hardship_endorsement", "endorsed"),
    )
    assert step.entered == "hardship_residence"
    assert step.ended


def test_ecowas_national_in_an_ecowas_host_state_is_offered_the_legal_migration_channel(
    avrr: Definition,
) -> None:
    facts = profile(nationality="SEN")
    state = engine.start(avrr, facts, {"host_country": "GHA"}, NOW)
    step = engine.advance(avrr, state, "profiling", "profiled", facts, {"host_country": "GHA"}, NOW)
    assert (step.entered, step.actor) == ("legal_migration_channel", "host_authority")


def test_counselling_is_reachable_from_several_stages(avrr: Definition) -> None:
    sources = {
        stage.id
        for stage in avrr.stages
        for branches in stage.outcomes.values()
        if any(branch.to == "counselling" for branch in branches)
    }
    assert {"profiling", "bid", "regularization_review", "hardship_endorsement"} <= sources
    assert {"counselling", "travel_documents"} <= sources


def test_undecided_person_is_counselled_again_later(avrr: Definition) -> None:
    step = walk(avrr, ADULT, ("profiling", "profiled"), ("counselling", "undecided"))
    assert step.entered == "counselling"
    assert [entry.outcome for entry in step.state.history] == ["profiled", "undecided", None]


def test_adult_returns_and_reintegrates_end_to_end(avrr: Definition) -> None:
    state = engine.start(avrr, ADULT, {}, NOW)
    assert (state.stage, state.due_at) == ("profiling", NOW + 14 * DAY)
    expected = [
        ("profiling", "profiled", "counselling", "return_agency", "avrr-counselling"),
        ("counselling", "decided_to_return", "travel_documents", "origin_authority", None),
        ("travel_documents", "issued", "departure", "return_agency", "avrr-departure"),
        ("departure", "departed", "reception", "reception_agency", "avrr-reception"),
        ("reception", "received", "reintegration", "return_agency", None),
        (
            "reintegration",
            "employment_support_needed",
            "employment_and_skills",
            "labour",
            "reintegration-employment",
        ),
        (
            "employment_and_skills",
            "support_delivered",
            "post_return_monitoring",
            "protection",
            "post-return-monitoring",
        ),
    ]
    at = NOW
    for stage, outcome, entered, actor, purpose in expected:
        at += DAY
        step = engine.advance(avrr, state, stage, outcome, ADULT, {}, at)
        assert (step.entered, step.actor) == (entered, actor)
        if purpose is not None:
            assert step.purpose == purpose
        assert step.needs == avrr.stage(entered).needs
        assert not step.ended
        state = step.state
    # Monitoring records the two sustainability indicators before the journey can close.
    with pytest.raises(MissingFacts) as missing:
        engine.advance(avrr, state, "post_return_monitoring", "monitored", ADULT, {}, at)
    assert missing.value.missing == ("social_and_economic_participation", "willing_to_remain")
    final = engine.advance(
        avrr, state, "post_return_monitoring", "monitored", {**ADULT, **MONITORING}, {}, at
    )
    assert final.entered == "closed"
    assert final.ended
    assert final.state.visited() == (
        "profiling",
        "counselling",
        "travel_documents",
        "departure",
        "reception",
        "reintegration",
        "employment_and_skills",
        "post_return_monitoring",
        "closed",
    )


def test_monitoring_refers_an_unsustainable_return_to_further_reintegration_support(
    avrr: Definition,
) -> None:
    state = walk(
        avrr,
        ADULT,
        ("profiling", "profiled"),
        ("counselling", "decided_to_return"),
        ("travel_documents", "issued"),
        ("departure", "departed"),
        ("reception", "received"),
        ("reintegration", "assistance_delivered"),
    ).state
    facts = {**ADULT, "willing_to_remain": False, "social_and_economic_participation": True}
    step = engine.advance(avrr, state, "post_return_monitoring", "monitored", facts, {}, NOW)
    assert step.entered == "reintegration_follow_up"
    assert StageKind.REINTEGRATION in step.kind


def test_withdraw_is_valid_from_every_stage(avrr: Definition) -> None:
    for stage in avrr.stages:
        if stage.terminal:
            continue
        state = engine.JourneyState(
            definition_id=avrr.id,
            definition_version=avrr.version,
            stage=stage.id,
            entered_at=NOW,
            due_at=None,
            history=(engine.HistoryEntry(stage=stage.id, at=NOW),),
        )
        assert "withdraw" in engine.allowed_outcomes(avrr, state)
        # No facts at all: withdrawing never waits for the case to be complete.
        step = engine.advance(avrr, state, stage.id, "withdraw", {}, {}, NOW + DAY)
        assert step.entered == "withdrawn", stage.id
        assert step.ended
        assert StageKind.WITHDRAWAL in step.kind


# -- refusals ------------------------------------------------------------------------------


def test_outcome_not_allowed_names_the_allowed_outcomes_and_the_actor(avrr: Definition) -> None:
    state = walk(avrr, ADULT, ("profiling", "profiled")).state
    with pytest.raises(OutcomeNotAllowed) as refused:
        engine.advance(avrr, state, "counselling", "departed", ADULT, {}, NOW)
    assert refused.value.actor == "return_agency"
    assert refused.value.allowed == (
        "decided_to_return",
        "undecided",
        "declined",
        "referred_to_alternative",
        "withdraw",
    )


def test_completion_for_a_stage_the_journey_has_left_is_refused(avrr: Definition) -> None:
    state = walk(avrr, ADULT, ("profiling", "profiled")).state
    with pytest.raises(StageMismatch) as refused:
        engine.advance(avrr, state, "profiling", "profiled", ADULT, {}, NOW)
    assert refused.value.current == "counselling"
    assert isinstance(refused.value, OutcomeNotAllowed)


def test_nothing_can_be_recorded_after_the_journey_ended(avrr: Definition) -> None:
    state = walk(avrr, ADULT, ("profiling", "withdraw")).state
    assert state.ended
    with pytest.raises(JourneyEnded):
        engine.advance(avrr, state, "withdrawn", "withdraw", ADULT, {}, NOW)
    assert engine.allowed_outcomes(avrr, state) == ()


def test_unknown_protection_fact_stops_the_journey_instead_of_guessing(avrr: Definition) -> None:
    facts = {name: value for name, value in ADULT.items() if name != "unaccompanied"}
    state = engine.start(avrr, facts, {}, NOW)
    with pytest.raises(MissingFacts) as missing:
        engine.advance(avrr, state, "profiling", "profiled", facts, {}, NOW)
    assert missing.value.missing == ("unaccompanied",)
    # A null (CaseProfile's "not known") is the same as absent.
    with pytest.raises(MissingFacts):
        engine.advance(
            avrr, state, "profiling", "profiled", {**facts, "unaccompanied": None}, {}, NOW
        )


def test_facts_that_decide_the_guard_anyway_are_enough(avrr: Definition) -> None:
    # ``unaccompanied || separated || ...``: a known true fact decides it, the others may wait.
    facts = {"trafficking_victim": False, "unaccompanied": True}
    state = engine.start(avrr, facts, {}, NOW)
    assert engine.advance(avrr, state, "profiling", "profiled", facts, {}, NOW).entered == "bid"


def test_facts_of_the_wrong_type_are_refused(avrr: Definition) -> None:
    state = engine.start(avrr, ADULT, {}, NOW)
    with pytest.raises(InvalidFacts, match="unaccompanied must be a bool"):
        engine.advance(avrr, state, "profiling", "profiled", profile(unaccompanied="no"), {}, NOW)
    with pytest.raises(InvalidFacts, match=r"params\.min_years"):
        engine.advance(avrr, state, "profiling", "profiled", ADULT, {"min_years": "five"}, NOW)


def test_journey_is_pinned_to_its_definition_version(avrr: Definition) -> None:
    state = engine.start(avrr, ADULT, {}, NOW)
    newer = avrr.model_copy(update={"version": "1.1.0"})
    with pytest.raises(DefinitionMismatch):
        engine.advance(newer, state, "profiling", "profiled", ADULT, {}, NOW)


def test_naive_times_are_refused(avrr: Definition) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        engine.start(avrr, ADULT, {}, NOW.replace(tzinfo=None))


# -- deadlines -----------------------------------------------------------------------------


def test_travel_documents_are_due_within_the_readmission_time_frame(avrr: Definition) -> None:
    step = walk(avrr, ADULT, ("profiling", "profiled"), ("counselling", "decided_to_return"))
    entered = step.state.entered_at
    assert step.due_at == entered + 14 * DAY
    assert engine.overdue(avrr, step.state, entered + 14 * DAY) == []
    late = engine.overdue(avrr, step.state, entered + 15 * DAY)
    assert [(o.stage, o.actor, o.overdue_by) for o in late] == [
        ("travel_documents", "origin_authority", DAY)
    ]


def test_ended_journey_is_never_overdue(avrr: Definition) -> None:
    state = walk(avrr, ADULT, ("profiling", "withdraw")).state
    assert engine.overdue(avrr, state, NOW + 1000 * DAY) == []


# -- guards are compiled once --------------------------------------------------------------


def test_guards_are_compiled_once_per_definition() -> None:
    d = shipped_definition("avrr-joint")
    table = guards_of(d)
    compiled_on_load = table.compilations
    assert compiled_on_load > 0, "verification on load compiles every guard"
    for _ in range(20):
        walk(d, ADULT, ("profiling", "profiled"), ("counselling", "decided_to_return"))
        walk(d, UNACCOMPANIED_CHILD, ("profiling", "profiled"))
    assert table.compilations == compiled_on_load


def with_stage(d: Definition, stage_id: str, **changes: Any) -> Definition:
    """A hand-edited copy of ``d``: one stage changed, every other stage the same object."""
    stages = tuple(s.model_copy(update=changes) if s.id == stage_id else s for s in d.stages)
    return d.model_copy(update={"stages": stages})


def test_a_changed_copy_of_a_definition_routes_by_its_own_guards(avrr: Definition) -> None:
    # The copy shares profiling, and so the very branches of "profiled", with the original:
    # what the engine keeps per definition must follow the copy's stages, not the original's.
    assert walk(avrr, ADULT, ("profiling", "profiled")).entered == "counselling"
    edited = with_stage(avrr, "labour_market_advice", when="true")
    assert walk(edited, ADULT, ("profiling", "profiled")).entered == "labour_market_advice"
    assert walk(avrr, ADULT, ("profiling", "profiled")).entered == "counselling"


def test_a_broken_entry_condition_is_refused_even_behind_a_branch_guard_that_is_false(
    avrr: Definition,
) -> None:
    # An adult who is not stateless: the branch guard (stateless) is false, so the entry
    # condition cannot decide anything, and is still refused rather than skipped unread.
    edited = with_stage(avrr, "statelessness_documentation", when="stateless &&")
    with pytest.raises(GuardError) as refused:
        walk(edited, ADULT, ("profiling", "profiled"))
    assert refused.value.source == "stateless &&"


# -- properties ----------------------------------------------------------------------------

_bool = st.booleans()
random_facts = st.fixed_dictionaries(
    {
        "is_child": _bool,
        "unaccompanied": _bool,
        "separated": _bool,
        "trafficking_victim": _bool,
        "stateless": _bool,
        "serious_illness": _bool,
        "years_in_host_country": st.floats(min_value=0, max_value=40, allow_nan=False),
        "proof_of_work": _bool,
        "social_contributions": _bool,
        "clean_criminal_record": _bool,
        "age": st.integers(min_value=0, max_value=90),
        "nationality": st.sampled_from(["SRB", "NGA", "GHA", "PRY", "XKX"]),
        "host_language": st.sampled_from(["none", "basic", "good", "fluent"]),
        "children_in_school": _bool,
        "skills_match": _bool,
        "nationality_in_doubt": _bool,
        "needs_escort": _bool,
        "willing_to_remain": _bool,
        "social_and_economic_participation": _bool,
    }
)

PROFILES = {
    "unaccompanied": ({"unaccompanied": True}, {StageKind.BID}),
    "separated": ({"separated": True}, {StageKind.BID}),
    "trafficked child": ({"is_child": True, "trafficking_victim": True}, {StageKind.BID}),
    "trafficking victim": (
        {"trafficking_victim": True},
        {StageKind.TRAFFICKING_RISK_ASSESSMENT, StageKind.PROTECTION_NEEDS_ANALYSIS},
    ),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    which=st.sampled_from(sorted(PROFILES)),
    first=random_facts,
    host=st.sampled_from(["", "NGA", "DEU"]),
)
def test_random_journeys_stay_in_the_graph_and_protect_children_and_victims(
    data: st.DataObject, which: str, first: dict[str, Any], host: str
) -> None:
    """Whatever the outcomes, and whatever the other facts do from one step to the next, a
    journey stays on declared stages and never departs without the protections its profile
    requires (the engine-side counterpart of the verifier's proof)."""
    d = shipped_definition_cached()
    assume, required = PROFILES[which]
    facts = {**first, **assume}
    params = {"host_country": host}
    state = engine.start(d, facts, params, NOW)
    for _ in range(40):
        assert state.stage in d.stage_map
        if state.ended:
            assert d.stage(state.stage).terminal
            break
        allowed = engine.allowed_outcomes(d, state)
        outcome = data.draw(st.sampled_from(allowed))
        facts = {**data.draw(random_facts), **assume}
        state = engine.advance(
            d, state, state.stage, outcome, facts, params, NOW, decision=DECIDED
        ).state
        kinds = set(d.stage(state.stage).kind)
        if kinds & {StageKind.DEPARTURE, StageKind.FORCED_REMOVAL}:
            assert required <= kinds_before(d, state), state.visited()
        if StageKind.FORCED_REMOVAL in kinds:
            assert StageKind.INDEPENDENT_MONITORING in kinds_before(d, state)


@cache
def shipped_definition_cached() -> Definition:
    """For hypothesis tests, which cannot take function-scoped fixtures."""
    return shipped_definition("avrr-joint")
