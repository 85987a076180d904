"""The routes of the shipped SOPs, as the seed and the roundtable describe them (issue 16, part 4),
and a walk of every outcome of every stage that finds no loop without a way out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from sop import engine
from sop.errors import MissingFacts
from sop.free_movement import Area, same_free_movement_area, shipped_areas
from sop.loader import shipped_definition
from sop.schema import Definition
from tests.sop.conftest import ADULT, NOW, STATELESS, profile
from tests.sop.test_engine import DECIDED, MONITORING

SHIPPED = ("avrr-joint", "enforcement")

ELIGIBLE_FOR_REGULARIZATION = profile(
    years_in_host_country=7.0, proof_of_work=True, social_contributions=True, age=41
)
ELIGIBLE_FOR_BOTH = {**ELIGIBLE_FOR_REGULARIZATION, "host_language": "good"}
"""Eligible for regularization, and the hardship commission would find the stay long and the
command of the language good."""

IN_NIGERIA = {"host_country": "NGA"}
IN_GERMANY = {"host_country": "DEU"}


def walk(
    d: Definition,
    facts: Mapping[str, Any],
    *steps: tuple[str, str],
    params: Mapping[str, Any] | None = None,
) -> engine.Step:
    """Start a journey and record ``(stage, outcome)`` steps."""
    state = engine.start(d, facts, params, NOW)
    step = engine.current_step(d, state)
    for stage, outcome in steps:
        step = engine.advance(d, step.state, stage, outcome, facts, params, NOW, decision=DECIDED)
    return step


# -- the outcome graph ---------------------------------------------------------------------


def outcome_graph(d: Definition, *, skip: Iterable[str] = ()) -> dict[str, set[str]]:
    """Every stage's own outcomes, every branch of each (not ``always``: withdrawal ends every
    journey and would make a way out of anything). Stages in ``skip`` are left out."""
    left_out = set(skip)
    return {
        stage.id: {
            branch.to
            for branches in stage.outcomes.values()
            for branch in branches
            if branch.to not in left_out
        }
        for stage in d.stages
        if stage.id not in left_out
    }


def components(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, set()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[set[str]]:
    """The components a journey can go round: more than one stage, or a stage to itself."""
    return [
        c
        for c in components(graph)
        if len(c) > 1 or next(iter(c)) in graph.get(next(iter(c)), set())
    ]


def reaches_terminal(d: Definition, graph: Mapping[str, set[str]], start: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        at = todo.pop()
        if d.stage(at).terminal:
            return True
        for nxt in graph.get(at, set()) - seen:
            seen.add(nxt)
            todo.append(nxt)
    return False


@pytest.mark.parametrize("name", SHIPPED)
def test_every_cycle_of_the_shipped_sops_has_a_way_out(name: str) -> None:
    d = shipped_definition(name)
    graph = outcome_graph(d)
    assert set(graph) == set(d.stage_map), "every stage is walked"
    for cycle in cycles(graph):
        exits = {
            (source, target)
            for source in cycle
            for target in graph[source] - cycle
            if reaches_terminal(d, graph, target)
        }
        assert exits, f"{name}: {sorted(cycle)} has no outcome that leads out to an end"


@pytest.mark.parametrize("name", SHIPPED)
def test_loops_that_can_repeat_have_a_way_out_too(name: str) -> None:
    """A stage marked ``once`` is entered at most once per journey (the engine passes over a
    branch to it once it is completed), so the loops that can go round again and again are
    those of the graph without such stages; each must still have an exit to an end."""
    d = shipped_definition(name)
    once = {stage.id for stage in d.stages if stage.once}
    full = outcome_graph(d)
    repeating = outcome_graph(d, skip=once)
    for cycle in cycles(repeating):
        exits = {(s, t) for s in cycle for t in full[s] - cycle if reaches_terminal(d, full, t)}
        assert exits, f"{name}: {sorted(cycle)} can repeat without a way out"


def test_no_loop_between_regularization_review_and_counselling(avrr: Definition) -> None:
    once = {stage.id for stage in avrr.stages if stage.once}
    assert {"regularization_review", "hardship_commission", "legal_migration_channel"} <= once
    repeating = outcome_graph(avrr, skip=once)
    for cycle in cycles(repeating):
        assert "regularization_review" not in cycle
    # And as a person lives it: refused, counselled, declines return: the journey ends, it
    # does not go back to the review that refused them.
    step = walk(
        avrr,
        ELIGIBLE_FOR_REGULARIZATION,
        ("profiling", "profiled"),
        ("regularization_review", "refused"),
        ("counselling", "declined"),
    )
    assert step.entered == "return_declined"
    step = walk(
        avrr,
        ELIGIBLE_FOR_REGULARIZATION,
        ("profiling", "profiled"),
        ("regularization_review", "refused"),
        ("counselling", "referred_to_alternative"),
    )
    assert step.entered == "counselling", "no alternative left to try: counselled again"


# -- alternatives to return ----------------------------------------------------------------


def test_a_refused_regularization_goes_to_the_hardship_commission_when_the_person_is_eligible(
    avrr: Definition,
) -> None:
    step = walk(
        avrr, ELIGIBLE_FOR_BOTH, ("profiling", "profiled"), ("regularization_review", "refused")
    )
    assert (step.entered, step.actor) == ("hardship_commission", "hardship_commission")


def test_a_refused_regularization_goes_to_counselling_only_when_no_alternative_is_left(
    avrr: Definition,
) -> None:
    step = walk(
        avrr,
        ELIGIBLE_FOR_REGULARIZATION,
        ("profiling", "profiled"),
        ("regularization_review", "refused"),
    )
    assert step.entered == "counselling"
    step = walk(
        avrr,
        ELIGIBLE_FOR_BOTH,
        ("profiling", "profiled"),
        ("regularization_review", "refused"),
        ("hardship_commission", "not_recommended"),
    )
    assert step.entered == "counselling"


def test_a_person_refused_everything_who_declines_return_ends_without_enforcement(
    avrr: Definition,
) -> None:
    step = walk(
        avrr,
        ELIGIBLE_FOR_BOTH,
        ("profiling", "profiled"),
        ("regularization_review", "refused"),
        ("hardship_commission", "not_recommended"),
        ("counselling", "declined"),
    )
    assert step.entered == "return_declined"
    assert step.ended


# -- the regional free-movement channel ----------------------------------------------------


def test_an_ecowas_national_in_nigeria_is_offered_the_free_movement_channel(
    avrr: Definition,
) -> None:
    ghanaian = profile(nationality="GHA")
    step = walk(avrr, ghanaian, ("profiling", "profiled"), params=IN_NIGERIA)
    assert step.entered == "legal_migration_channel"
    assert step.actor == "host_authority", "the host state decides, not ILO"


def test_an_ecowas_national_in_germany_is_not_offered_the_free_movement_channel(
    avrr: Definition,
) -> None:
    ghanaian = profile(nationality="GHA")
    step = walk(avrr, ghanaian, ("profiling", "profiled"), params=IN_GERMANY)
    assert step.entered == "counselling"


def test_a_declared_regime_alone_no_longer_opens_the_channel(avrr: Definition) -> None:
    """``regional_free_movement != null`` said nothing of where the person is."""
    serbian = profile(nationality="SRB", regional_free_movement="ecowas")
    assert walk(avrr, serbian, ("profiling", "profiled"), params=IN_NIGERIA).entered == (
        "counselling"
    )


def test_a_programme_that_does_not_name_its_host_country_offers_no_free_movement(
    avrr: Definition,
) -> None:
    assert walk(avrr, profile(nationality="GHA"), ("profiling", "profiled")).entered == (
        "counselling"
    )


def test_the_free_movement_fact_is_derived_not_taken_from_the_case(avrr: Definition) -> None:
    claimed = profile(nationality="SRB", same_free_movement_area=True)
    assert walk(avrr, claimed, ("profiling", "profiled"), params=IN_NIGERIA).entered == (
        "counselling"
    )


def test_ecowas_membership_is_shipped_as_data() -> None:
    (ecowas,) = [area for area in shipped_areas() if area.id == "ecowas"]
    assert ecowas.members == frozenset(
        {"BEN", "CPV", "CIV", "GMB", "GHA", "GIN", "GNB", "LBR", "NGA", "SEN", "SLE", "TGO"}
    )
    # Burkina Faso, Mali and Niger left on 29 January 2025 (recorded, not members).
    assert {"BFA", "MLI", "NER"} <= set(ecowas.former)
    assert not {"BFA", "MLI", "NER"} & ecowas.members
    assert same_free_movement_area("SEN", "NGA")
    assert not same_free_movement_area("MLI", "NGA")
    assert not same_free_movement_area("NGA", "NGA"), "a national is not moving freely"
    assert not same_free_movement_area(None, "NGA")
    assert not same_free_movement_area("GHA", "")


def test_another_free_movement_area_can_be_added() -> None:
    mercosur = Area(
        id="mercosur-residence",
        name="MERCOSUR Residence Agreement",
        members=frozenset({"ARG", "BRA", "PRY", "URY", "BOL"}),
        source="test",
    )
    areas = (*shipped_areas(), mercosur)
    assert same_free_movement_area("PRY", "ARG", areas)
    assert not same_free_movement_area("PRY", "ARG")


# -- the labour-market channel --------------------------------------------------------------


def test_a_labour_migration_channel_is_decided_by_the_host_authority_with_ilo_advising(
    avrr: Definition,
) -> None:
    skilled = profile(skills_match=True)
    step = walk(avrr, skilled, ("profiling", "profiled"), params=IN_GERMANY)
    assert (step.entered, step.actor) == ("labour_market_advice", "labour")
    step = walk(
        avrr,
        skilled,
        ("profiling", "profiled"),
        ("labour_market_advice", "channel_advised"),
        params=IN_GERMANY,
    )
    assert (step.entered, step.actor) == ("legal_migration_channel", "host_authority")
    step = walk(
        avrr,
        skilled,
        ("profiling", "profiled"),
        ("labour_market_advice", "channel_advised"),
        ("legal_migration_channel", "admitted"),
        params=IN_GERMANY,
    )
    assert step.entered == "legal_channel_admission"
    step = walk(
        avrr,
        skilled,
        ("profiling", "profiled"),
        ("labour_market_advice", "no_channel_advised"),
        params=IN_GERMANY,
    )
    assert step.entered == "counselling"


def test_no_stage_of_the_joint_sop_is_decided_by_ilo_but_its_own_support(
    avrr: Definition,
) -> None:
    assert avrr.stage("legal_migration_channel").actor == "host_authority"
    assert {s.id for s in avrr.stages if s.actor == "labour"} == {
        "labour_market_advice",
        "employment_and_skills",
    }


# -- post-return monitoring ------------------------------------------------------------------

RETURNED = (
    ("profiling", "profiled"),
    ("counselling", "decided_to_return"),
    ("travel_documents", "issued"),
    ("departure", "departed"),
    ("reception", "received"),
    ("reintegration", "assistance_delivered"),
)
FAILING = {**ADULT, "willing_to_remain": False, "social_and_economic_participation": True}


def test_monitoring_sends_a_failing_indicator_to_further_support_first(avrr: Definition) -> None:
    step = walk(avrr, FAILING, *RETURNED, ("post_return_monitoring", "monitored"))
    assert (step.entered, step.actor) == ("reintegration_follow_up", "return_agency")


def test_an_indicator_still_failing_after_support_is_referred_on_then_closed(
    avrr: Definition,
) -> None:
    step = walk(
        avrr,
        FAILING,
        *RETURNED,
        ("post_return_monitoring", "monitored"),
        ("reintegration_follow_up", "support_delivered"),
        ("post_return_monitoring", "monitored"),
    )
    assert (step.entered, step.actor) == ("onward_referral", "protection")
    for referral in ("referred_for_protection", "referred_for_reintegration"):
        end = engine.advance(avrr, step.state, "onward_referral", referral, FAILING, {}, NOW)
        assert end.entered == "closed_after_referral"
        assert end.ended


def test_a_sustainable_return_still_closes(avrr: Definition) -> None:
    facts = {**ADULT, **MONITORING}
    step = walk(avrr, facts, *RETURNED, ("post_return_monitoring", "monitored"))
    assert step.entered == "closed"


# -- travel documents --------------------------------------------------------------------------


def test_a_refused_travel_document_goes_to_statelessness_documentation_when_nationality_is_in_doubt(
    avrr: Definition,
) -> None:
    doubt = profile(nationality_in_doubt=True)
    step = walk(
        avrr,
        doubt,
        ("profiling", "profiled"),
        ("counselling", "decided_to_return"),
        ("travel_documents", "refused"),
    )
    assert (step.entered, step.actor) == ("statelessness_documentation", "protection")
    sure = profile(nationality_in_doubt=False)
    step = walk(
        avrr,
        sure,
        ("profiling", "profiled"),
        ("counselling", "decided_to_return"),
        ("travel_documents", "refused"),
    )
    assert step.entered == "counselling"


def test_a_stateless_person_refused_a_travel_document_is_documented_again(
    avrr: Definition,
) -> None:
    facts = {**STATELESS, "nationality_in_doubt": True}
    step = walk(
        avrr,
        facts,
        ("profiling", "profiled"),
        ("statelessness_documentation", "nationality_documented"),
        ("counselling", "decided_to_return"),
        ("travel_documents", "refused"),
    )
    assert step.entered == "statelessness_documentation"


def test_a_refusal_that_finds_the_person_stateless_needs_no_more(avrr: Definition) -> None:
    step = walk(avrr, ADULT, ("profiling", "profiled"), ("counselling", "decided_to_return"))
    found = {k: v for k, v in ADULT.items() if k != "nationality_in_doubt"} | {"stateless": True}
    refused = engine.advance(avrr, step.state, "travel_documents", "refused", found, {}, NOW)
    assert refused.entered == "statelessness_documentation"


def test_the_refusal_must_say_whether_nationality_is_in_doubt(avrr: Definition) -> None:
    facts = {k: v for k, v in ADULT.items() if k != "nationality_in_doubt"}
    step = walk(avrr, facts, ("profiling", "profiled"), ("counselling", "decided_to_return"))
    with pytest.raises(MissingFacts) as missing:
        engine.advance(avrr, step.state, "travel_documents", "refused", facts, {}, NOW)
    assert missing.value.missing == ("nationality_in_doubt",)
    # Issued, the document settles the question: nothing more is asked.
    issued = engine.advance(avrr, step.state, "travel_documents", "issued", facts, {}, NOW)
    assert issued.entered == "departure"


# -- a change of mind on the way back (part 3) --------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "stage"),
    [
        ((("counselling", "decided_to_return"),), "travel_documents"),
        ((("counselling", "decided_to_return"), ("travel_documents", "issued")), "departure"),
    ],
)
def test_a_person_who_no_longer_wants_to_return_is_counselled_on_the_alternatives(
    avrr: Definition, steps: tuple[tuple[str, str], ...], stage: str
) -> None:
    step = walk(avrr, ADULT, ("profiling", "profiled"), *steps)
    assert step.entered == stage
    again = engine.advance(avrr, step.state, stage, "no_longer_wants_to_return", ADULT, {}, NOW)
    assert again.entered == "counselling"
    assert not again.ended, "not a withdrawal: the case goes on"
    # Someone who has become eligible for an alternative since is reviewed for it first.
    eligible = profile(years_in_host_country=9.0, host_language="fluent")
    step = walk(avrr, eligible, ("profiling", "profiled"))
    assert step.entered == "hardship_commission"
    step = walk(
        avrr,
        eligible,
        ("profiling", "profiled"),
        ("hardship_commission", "not_recommended"),
        ("counselling", "decided_to_return"),
        ("travel_documents", "no_longer_wants_to_return"),
    )
    assert step.entered == "counselling", "the commission was heard once on this journey"


def test_escorted_departure_offers_the_change_of_mind_too(avrr: Definition) -> None:
    for stage in ("travel_documents", "departure", "escorted_departure"):
        assert "no_longer_wants_to_return" in avrr.stage(stage).outcomes, stage


# -- what the owner may record (part 2, the SOP side) ---------------------------------------------


def test_owner_may_record_only_outcomes_that_grant_nothing(avrr: Definition) -> None:
    marked = {s.id: set(s.owner_may_record) for s in avrr.stages if s.owner_may_record}
    assert marked == {
        "statelessness_documentation": {"nationality_not_confirmed"},
        "regularization_review": {"refused"},
        "hardship_commission": {"not_recommended"},
        "hardship_endorsement": {"refused"},
        "labour_market_advice": {"no_channel_advised"},
        "legal_migration_channel": {"not_admitted"},
        "counselling": {"undecided"},
        "travel_documents": {"refused", "no_longer_wants_to_return"},
        "escorted_departure": {"not_departed", "no_longer_wants_to_return"},
        "departure": {"not_departed", "no_longer_wants_to_return"},
    }
    for stage in avrr.stages:
        assert not (stage.decision and stage.owner_may_record), (
            f"{stage.id}: a written decision is the acting agency's alone"
        )
