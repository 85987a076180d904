"""Static verification: the shipped SOP proves its protections; broken ones are caught."""

from __future__ import annotations

import itertools
from collections import deque
from functools import partial
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sop import engine
from sop.errors import NoEligibleStage, SafeguardMissing
from sop.loader import SHIPPED_DIR, check_file, check_text
from sop.safeguards import completed
from sop.schema import Definition, StageKind
from sop.verify import PROTECTIONS, verify
from tests.sop.conftest import NOW

AVRR_TEXT = (SHIPPED_DIR / "avrr-joint.yaml").read_text(encoding="utf-8")


def codes(text: str) -> list[str]:
    return [problem.code for problem in check_text(text, "x.yaml")]


def test_shipped_definitions_verify_with_zero_problems() -> None:
    shipped = sorted(SHIPPED_DIR.glob("*.yaml"))
    assert shipped
    for path in shipped:
        assert check_file(path) == [], path


def test_shipped_sops_have_every_protection_stage_their_departures_need(avrr: Definition) -> None:
    kinds = {kind for stage in avrr.stages for kind in stage.kind}
    for protection in PROTECTIONS:
        if protection.before & kinds - {StageKind.TRAVEL_DOCUMENTS}:
            assert protection.requires <= kinds, protection.name


def test_a_shipped_sop_without_interrupts_fails_the_check() -> None:
    start = AVRR_TEXT.index("interrupts:\n")
    end = AVRR_TEXT.index("stages:\n")
    problems = check_text(AVRR_TEXT[:start] + AVRR_TEXT[end:], "x.yaml")
    messages = " ".join(p.message for p in problems if p.code == "protection-bypass")
    # Identified late, at the very stage of departure: nothing takes them to the safeguard.
    for who in ("an unaccompanied child", "a trafficking victim", "a stateless person"):
        assert f"{who} can reach departure" in messages
    assert "-(a fact changes)-> departure" in messages


def test_every_non_terminal_stage_names_actor_needs_purpose_and_description(
    avrr: Definition,
) -> None:
    for stage in avrr.stages:
        assert stage.description
        if not stage.terminal:
            assert stage.actor in avrr.roles
            assert stage.needs, stage.id
            assert stage.purpose, stage.id


def test_protection_data_goes_only_to_the_protection_role(avrr: Definition) -> None:
    # DESIGN §1: what a trafficking victim disclosed stays in the most restricted category.
    for stage in avrr.stages:
        if "protection" in stage.needs:
            assert stage.actor == "protection", stage.id


BID_INTERRUPT = (
    "  - when: unaccompanied || separated || (is_child && trafficking_victim)\n    stage: bid\n"
)


def test_the_bid_interrupt_takes_a_child_there_when_the_routing_forgets_it() -> None:
    without_bid_in_routing = AVRR_TEXT.replace(
        "        - bid\n        - statelessness_documentation\n        - regularization_review",
        "        - statelessness_documentation\n        - regularization_review",
    )
    assert "protection-bypass" not in codes(without_bid_in_routing)
    broken = without_bid_in_routing.replace(BID_INTERRUPT, "")
    problems = [p for p in check_text(broken, "x.yaml") if p.code == "protection-bypass"]
    messages = " ".join(p.message for p in problems)
    assert "an unaccompanied child can reach departure" in messages
    assert "a separated child can reach departure" in messages
    assert "start -> profiling -[profiled]-> counselling" in messages


def test_forced_removal_without_an_interrupt_for_a_late_trafficking_victim_is_a_bypass() -> None:
    text = (SHIPPED_DIR / "enforcement.yaml").read_text(encoding="utf-8")
    assert check_text(text, "x.yaml") == []
    start = text.index("interrupts:\n")
    broken = text[:start] + text[text.index("stages:\n") :]
    messages = [p.message for p in check_text(broken, "x.yaml") if p.code == "protection-bypass"]
    assert any(
        m.startswith("a trafficking victim can reach departure (stage 'forced_removal')")
        for m in messages
    )


def test_skipping_the_protection_needs_analysis_is_a_bypass() -> None:
    broken = AVRR_TEXT.replace(
        "      low_risk:\n        - bid\n        - protection_needs_analysis",
        "      low_risk:\n        - bid\n        - counselling",
    ).replace("  - when: trafficking_victim\n    stage: protection_needs_analysis\n", "")
    messages = [p.message for p in check_text(broken, "x.yaml") if p.code == "protection-bypass"]
    assert any(
        m.startswith("a trafficking victim can reach departure") and "protection-needs" in m
        for m in messages
    )


def test_guard_that_cannot_be_decided_from_the_profile_counts_as_taken() -> None:
    # ``unaccompanied && is_child``: is_child is not part of the profile assumption, so for the
    # verifier the adult path stays open to an unaccompanied person (sound, if strict).
    broken = AVRR_TEXT.replace(
        "when: unaccompanied || separated || (is_child && trafficking_victim)",
        "when: (unaccompanied && is_child) || separated || (is_child && trafficking_victim)",
    )
    messages = [p.message for p in check_text(broken, "x.yaml") if p.code == "protection-bypass"]
    assert any(m.startswith("an unaccompanied child") for m in messages)
    assert not any(m.startswith("a separated child") for m in messages)


def test_problems_are_all_reported_not_just_the_first() -> None:
    broken = AVRR_TEXT.replace("needs: [identity, contact, specific_needs]", "needs: [identiy]")
    broken = broken.replace("due: P3D", "due: 3 days").replace("actor: labour", "actor: labor")
    assert {"unknown-category", "bad-due", "unknown-role"} <= set(codes(broken))


def test_a_bid_or_risk_assessment_must_be_recorded_as_a_written_decision() -> None:
    broken = AVRR_TEXT.replace(
        "    when: trafficking_victim\n    decision: true\n", "    when: trafficking_victim\n"
    )
    assert "decision-unrecorded" in codes(broken)


def test_an_interrupt_to_nowhere_is_reported() -> None:
    broken = AVRR_TEXT.replace(
        "    stage: statelessness_documentation\n", "    stage: stateless_docs\n"
    )
    assert "unknown-stage" in codes(broken)


def test_protection_facts_may_not_be_nullable() -> None:
    broken = AVRR_TEXT.replace(
        "  stateless:\n    type: bool\n", "  stateless:\n    type: bool\n    nullable: true\n"
    )
    assert "protection-fact" in codes(broken)


def test_guard_type_errors_are_found_with_typed_sample_facts() -> None:
    broken = AVRR_TEXT.replace("age >= params.min_age", 'age >= "18"')
    assert "guard-type" in codes(broken)


def test_outcome_without_fallback_is_reported() -> None:
    broken = AVRR_TEXT.replace(
        "        - labour_market_advice\n        - counselling\n      nationality_not_confirmed",
        "        - labour_market_advice\n      nationality_not_confirmed",
    )
    assert "no-fallback" in codes(broken)


def problems_of(text: str, code: str) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in check_text(text, "x.yaml") if p.code == code]


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_owner_may_record_names_one_of_the_stages_own_outcomes() -> None:
    mark = "    owner_may_record: [refused, no_longer_wants_to_return]\n"
    broken = AVRR_TEXT.replace(mark, "    owner_may_record: [refused, issued_late]\n")
    found = problems_of(broken, "owner-may-record")
    assert found == [(line_of(broken, "owner_may_record: [refused, issued_late]"), found[0][1])]
    assert "'issued_late', which is not one of its outcomes" in found[0][1]


def test_a_written_decision_is_never_the_owners_to_record() -> None:
    broken = AVRR_TEXT.replace(
        "    decision: true\n    description: >-\n      The child's best interests",
        "    decision: true\n    owner_may_record: [local_solution]\n"
        "    description: >-\n      The child's best interests",
    )
    (found,) = problems_of(broken, "owner-may-record")
    assert found[0] == line_of(broken, "owner_may_record: [local_solution]")
    assert "written decision" in found[1]


def test_a_stage_passed_over_once_completed_is_no_fallback() -> None:
    broken = AVRR_TEXT.replace(
        "      not_admitted: counselling\n",
        "      not_admitted:\n        - regularization_review\n",
    )
    # regularization_review has an entry condition too; drop it, so only `once` is at fault.
    start = broken.index("    when: >-\n      years_in_host_country >= params.min_years")
    end = broken.index("    description: >-\n      Large-scale regularization")
    broken = broken[:start] + broken[end:]
    messages = [m for _, m in problems_of(broken, "no-fallback")]
    assert any("passed over once completed" in m for m in messages), messages


def test_the_free_movement_fact_needs_the_host_country_parameter() -> None:
    start = AVRR_TEXT.index("  host_country:\n")
    end = AVRR_TEXT.index("start: profiling")
    broken = AVRR_TEXT[:start] + "\n" + AVRR_TEXT[end:]
    found = codes(broken)
    assert "derived-fact" in found


def test_always_must_offer_withdrawal() -> None:
    broken = AVRR_TEXT.replace("always:\n  withdraw: withdrawn\n", "")
    found = codes(broken)
    assert "missing-withdraw" in found
    assert "unreachable-stage" in found


# -- soundness, checked against the engine on random definitions ----------------------------

GUARDS = [
    None,
    None,
    "unaccompanied",
    "!unaccompanied",
    "is_child",
    "!is_child",
    "unaccompanied && is_child",
    "unaccompanied || is_child",
    "years > 3.0",
    "!unaccompanied || years > 3.0",
]
KINDS: list[Any] = [[], [], ["bid"], ["departure"], ["departure", "forced_removal"]]
LATE = [
    {"unaccompanied": False, "is_child": child, "years": years}
    for child, years in itertools.product([True, False], [1.0, 5.0])
]
"""Before the person is known to be unaccompanied."""
FACT_VALUES = [{**facts, "unaccompanied": True} for facts in LATE]
"""Once they are: from the start, or from any later step on."""


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(min_value=2, max_value=6))
    ids = [f"s{i}" for i in range(n)]
    targets = [*ids, "done"]
    stages = []
    for stage_id in ids:
        outcomes = {}
        for k in range(draw(st.integers(min_value=1, max_value=2))):
            branches = [
                {"to": draw(st.sampled_from(targets)), "when": draw(st.sampled_from(GUARDS))}
                for _ in range(draw(st.integers(min_value=1, max_value=3)))
            ]
            outcomes[f"o{k}"] = branches
        stages.append(
            {
                "id": stage_id,
                "title": stage_id,
                "description": "random",
                "actor": "agency",
                "purpose": "testing",
                "kind": draw(st.sampled_from(KINDS)),
                "when": draw(st.sampled_from([None, None, *GUARDS])),
                # Passed over once completed: the verifier must not prune after it.
                "once": draw(st.sampled_from([False, False, True])),
                "outcomes": outcomes,
            }
        )
    stages += [
        {"id": "done", "title": "done", "description": "end", "terminal": True},
        {
            "id": "withdrawn",
            "title": "withdrawn",
            "description": "end",
            "terminal": True,
            "kind": "withdrawal",
        },
    ]
    return {
        "id": "random",
        "version": "0.0.1",
        "title": "random",
        "description": "random",
        "roles": {"agency": "an agency"},
        "facts": {
            "unaccompanied": {"type": "bool", "description": "x"},
            "is_child": {"type": "bool", "description": "x"},
            "years": {"type": "float", "description": "x"},
        },
        "start": "s0",
        "always": {"withdraw": "withdrawn"},
        "interrupts": [
            {
                "when": draw(st.sampled_from([g for g in GUARDS if g])),
                "stage": draw(st.sampled_from(ids)),
            }
            for _ in range(draw(st.integers(min_value=0, max_value=2)))
        ],
        "stages": stages,
    }


def engine_bypasses(d: Definition) -> set[str]:
    """Departure stages where the engine can hold an unaccompanied child without a BID: entered
    (or refused entry by the runtime guard, which hides what the routing would do) or sat in
    when the fact turns up. Every outcome and every value of the other facts at every step;
    the child may be known as such from the start, or turn out to be one at any later step,
    with an outcome or on its own (a profile patch)."""
    found: set[str] = set()
    queue: deque[tuple[engine.JourneyState, bool]] = deque()
    seen: set[tuple[str, bool, frozenset[str], bool]] = set()

    def bid_done(state: engine.JourneyState) -> bool:
        done = completed(d, state.history)
        return any(StageKind.BID in d.stage(v.stage).kind for v in done)

    def reach(make: Any, known: bool) -> None:
        try:
            state = make()
        except SafeguardMissing as refused:
            if known and "bid" in refused.missing:
                found.add(refused.stage)
            return
        except NoEligibleStage:
            return
        if state is None:
            return
        if known and StageKind.DEPARTURE in d.stage(state.stage).kind and not bid_done(state):
            found.add(state.stage)
        key = (
            state.stage,
            bid_done(state),
            frozenset(v.stage for v in completed(d, state.history)),
            known,
        )
        if key not in seen:
            seen.add(key)
            queue.append((state, known))

    for facts in LATE + FACT_VALUES:
        reach(partial(engine.start, d, facts, {}, NOW), facts["unaccompanied"])
    while queue:
        state, known = queue.popleft()
        if state.ended:
            continue
        for facts in FACT_VALUES if known else LATE + FACT_VALUES:
            now_known = facts["unaccompanied"]
            for outcome in d.stage(state.stage).outcomes:
                advance = partial(engine.advance, d, state, state.stage, outcome, facts, {}, NOW)
                reach(lambda advance=advance: advance().state, now_known)
            divert = partial(engine.divert, d, state, facts, {}, NOW)
            # The fact turned up with nothing moving the journey: it holds the child where it is.
            reach(lambda divert=divert, state=state: divert() or state, now_known)
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=definitions())
def test_verifier_never_misses_a_path_the_engine_can_take(raw: dict[str, Any]) -> None:
    """Soundness: every departure the engine can reach without a BID for an unaccompanied
    child is reported by the verifier (the verifier may report more: false alarms)."""
    d = Definition.model_validate(raw)
    try:
        start_ok = all(engine.start(d, f, {}, NOW) for f in LATE + FACT_VALUES)
    except (NoEligibleStage, SafeguardMissing):
        start_ok = False
    if not start_ok:
        return
    reported = {
        p.message.split("(stage '")[1].split("'")[0]
        for p in verify(d)
        if p.code == "protection-bypass" and p.message.startswith("an unaccompanied child")
    }
    assert engine_bypasses(d) <= reported
