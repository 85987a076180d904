"""Static verification: the shipped SOP proves its protections; broken ones are caught."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sop import engine
from sop.errors import NoEligibleStage
from sop.loader import SHIPPED_DIR, check_file, check_text
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


def test_shipped_sop_has_every_protection_stage(avrr: Definition) -> None:
    kinds = {kind for stage in avrr.stages for kind in stage.kind}
    for protection in PROTECTIONS:
        assert protection.requires <= kinds, protection.name


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


def test_bid_listed_after_counselling_is_a_bypass() -> None:
    broken = AVRR_TEXT.replace(
        "        - bid\n        - statelessness_documentation\n        - regularization_review",
        "        - statelessness_documentation\n        - regularization_review",
    )
    problems = [p for p in check_text(broken, "x.yaml") if p.code == "protection-bypass"]
    messages = " ".join(p.message for p in problems)
    assert "an unaccompanied child can reach departure" in messages
    assert "a separated child can reach departure" in messages
    # Forced removal is a departure too: children are protected on that path as well.
    assert "(stage 'forced_removal')" in messages
    assert "start -> profiling -[profiled]-> counselling" in messages


def test_skipping_the_protection_needs_analysis_is_a_bypass() -> None:
    broken = AVRR_TEXT.replace(
        "      assessed:\n        - bid\n        - protection_needs_analysis",
        "      assessed:\n        - bid\n        - counselling",
    )
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
    broken = broken.replace("due: P7D", "due: 7 days").replace("actor: monitor", "actor: monitr")
    assert {"unknown-category", "bad-due", "unknown-role"} <= set(codes(broken))


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
        "        - legal_migration_channel\n        - counselling\n      nationality_not_confirmed",
        "        - legal_migration_channel\n      nationality_not_confirmed",
    )
    assert "no-fallback" in codes(broken)


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
FACT_VALUES = [
    {"unaccompanied": True, "is_child": child, "years": years}
    for child, years in itertools.product([True, False], [1.0, 5.0])
]


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
        "stages": stages,
    }


def engine_bypasses(d: Definition) -> set[str]:
    """Departure stages the engine itself can enter without a BID for an unaccompanied child,
    exploring every outcome and every value of the other facts at every step."""
    found = set()
    start = {engine.start(d, facts, {}, NOW).stage for facts in FACT_VALUES}
    queue = deque((stage, False) for stage in start)
    seen = set(queue)
    while queue:
        stage_id, passed = queue.popleft()
        stage = d.stage(stage_id)
        if StageKind.DEPARTURE in stage.kind and not passed:
            found.add(stage_id)
        passed = passed or StageKind.BID in stage.kind
        if stage.terminal:
            continue
        state = engine.JourneyState(
            definition_id=d.id,
            definition_version=d.version,
            stage=stage_id,
            entered_at=NOW,
            due_at=None,
            history=(engine.HistoryEntry(stage=stage_id, at=NOW),),
        )
        for outcome, facts in itertools.product(stage.outcomes, FACT_VALUES):
            try:
                nxt = engine.advance(d, state, stage_id, outcome, facts, {}, NOW).entered
            except NoEligibleStage:
                continue
            if (nxt, passed) not in seen:
                seen.add((nxt, passed))
                queue.append((nxt, passed))
    return found


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=definitions())
def test_verifier_never_misses_a_path_the_engine_can_take(raw: dict[str, Any]) -> None:
    """Soundness: every departure the engine can reach without a BID for an unaccompanied
    child is reported by the verifier (the verifier may report more: false alarms)."""
    d = Definition.model_validate(raw)
    try:
        start_ok = all(engine.start(d, f, {}, NOW) for f in FACT_VALUES)
    except NoEligibleStage:
        start_ok = False
    if not start_ok:
        return
    reported = {
        p.message.split("(stage '")[1].split("'")[0]
        for p in verify(d)
        if p.code == "protection-bypass" and p.message.startswith("an unaccompanied child")
    }
    assert engine_bypasses(d) <= reported
