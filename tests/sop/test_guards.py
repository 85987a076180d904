"""CEL guards: what a guard reads, and how it evaluates when facts are unknown."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sop.cel_shape import CelSyntaxError
from sop.errors import InvalidFacts
from sop.guards import (
    Bindings,
    GuardInvalid,
    GuardSyntaxError,
    GuardTable,
    GuardTooComplex,
    Truth,
    bind_facts,
    bind_params,
    compile_guard,
)
from sop.schema import FactSpec, ParamSpec


def truth(source: str, facts: dict[str, object], params: dict[str, object] | None = None) -> Truth:
    return Bindings(facts, params).evaluate(compile_guard(source)).truth


def test_guard_reads_its_top_level_variables_as_facts() -> None:
    guard = compile_guard("years_in_host_country >= params.min_years && proof_of_work")
    assert guard.facts == {"years_in_host_country", "proof_of_work"}
    assert guard.params == {"min_years"}
    assert guard.variables == {"years_in_host_country", "proof_of_work", "params"}


def test_comprehension_variables_are_not_facts() -> None:
    guard = compile_guard('languages.exists(l, l == "sq") && params.codes.all(c, c != "")')
    assert guard.facts == {"languages"}
    assert guard.params == {"codes"}


def test_names_inside_string_literals_are_not_read() -> None:
    guard = compile_guard('note == "params.secret and x.exists(y, z)"')
    assert guard.facts == {"note"}
    assert guard.params == set()


def test_parameters_must_be_read_by_name() -> None:
    assert compile_guard('params["min_years"] > 1').misuse


def test_syntax_error_is_reported_with_its_column() -> None:
    with pytest.raises(GuardSyntaxError, match="column"):
        compile_guard("unaccompanied && (")


def test_known_facts_decide_when_the_unknown_cannot_matter() -> None:
    # CEL's commutative && and ||: the value computed without a fact holds for every value.
    assert truth("unaccompanied || separated", {"unaccompanied": True}) is Truth.TRUE
    assert truth("separated || unaccompanied", {"unaccompanied": True}) is Truth.TRUE
    assert truth("is_child && unaccompanied", {"is_child": False}) is Truth.FALSE
    assert truth("unaccompanied && is_child", {"is_child": False}) is Truth.FALSE


def test_unknown_facts_leave_the_guard_unknown_with_what_it_needs() -> None:
    verdict = Bindings({"unaccompanied": False}, None).evaluate(
        compile_guard("unaccompanied || separated")
    )
    assert verdict.truth is Truth.UNKNOWN
    assert verdict.missing == {"separated"}
    verdict = Bindings({}, None).evaluate(compile_guard("years >= params.min_years"))
    assert verdict.missing == {"years", "params"}


def test_non_boolean_result_is_not_true() -> None:
    assert truth("age", {"age": 3}) is Truth.UNKNOWN


def test_table_compiles_each_guard_once() -> None:
    table = GuardTable()
    for _ in range(3):
        table.get("a && b")
        with pytest.raises(GuardSyntaxError):
            table.get("a &&")
    assert table.compilations == 2


FACTS = {
    "flag": FactSpec(type="bool", description="x"),
    "years": FactSpec(type="float", description="x"),
    "age": FactSpec(type="int", description="x"),
    "born": FactSpec(type="date", description="x"),
    "languages": FactSpec(type="list[string]", description="x"),
    "regime": FactSpec(type="string", description="x", nullable=True),
}


def test_facts_are_converted_to_what_cel_expects() -> None:
    bound = bind_facts(
        FACTS,
        {
            "flag": True,
            "years": 7,
            "age": 40,
            "born": "1985-04-02",
            "languages": ("sq", "sr"),
            "regime": None,
            "date_of_birth": "1985-04-02",
        },
    )
    assert bound == {
        "flag": True,
        "years": 7.0,
        "age": 40,
        "born": datetime(1985, 4, 2, tzinfo=UTC),
        "languages": ["sq", "sr"],
        "regime": None,
    }
    assert isinstance(bound["years"], float), "CEL does not mix int and double"
    assert bind_facts(FACTS, {"born": date(1985, 4, 2)})["born"] == bound["born"]


def test_null_is_unknown_unless_the_fact_is_nullable() -> None:
    assert bind_facts(FACTS, {"flag": None, "regime": None}) == {"regime": None}
    assert bind_facts(FACTS, {}) == {}, "absent stays unknown, even when nullable"


def test_dates_compare_as_timestamps() -> None:
    born = bind_facts(FACTS, {"born": "2010-06-01"})
    assert truth('born > timestamp("2007-03-01T00:00:00Z")', born) is Truth.TRUE


def test_wrongly_typed_facts_are_refused_all_at_once() -> None:
    with pytest.raises(InvalidFacts) as refused:
        bind_facts(FACTS, {"flag": 1, "age": True, "languages": ["sq", 3]})
    assert len(refused.value.problems) == 3


def test_parameters_take_defaults_and_required_ones_must_be_given() -> None:
    specs = {
        "min_years": ParamSpec(type="int", description="x", default=5),
        "regimes": ParamSpec(type="list[string]", description="x"),
    }
    assert bind_params(specs, {"regimes": []}) == {"min_years": 5, "regimes": []}
    with pytest.raises(InvalidFacts, match="regimes is required"):
        bind_params(specs, {})
    with pytest.raises(InvalidFacts, match="not a parameter"):
        bind_params(specs, {"regimes": [], "max_years": 3})


def test_a_guard_past_the_limits_is_never_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: str) -> None:
        raise AssertionError(f"compiled {source!r}")

    monkeypatch.setattr("sop.guards.cel.compile", refuse)
    with pytest.raises(GuardTooComplex) as refused:
        compile_guard("xs.all(a, xs.all(b, xs.all(c, a == b)))")
    assert [b.limit for b in refused.value.breaches] == ["guard-comprehensions"]
    table = GuardTable()
    with pytest.raises(GuardInvalid):
        table.get("x" * 1_001)


def test_cel_the_measurer_cannot_read_is_refused_not_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreadable(source: str) -> None:
        raise CelSyntaxError("column 1: unexpected")

    monkeypatch.setattr("sop.guards.guard_breaches", unreadable)
    with pytest.raises(GuardTooComplex) as refused:
        compile_guard("a && b")
    assert [b.limit for b in refused.value.breaches] == ["guard-unmeasurable"]
    with pytest.raises(GuardSyntaxError):
        compile_guard("a &&")
