"""CEL guards: what a guard reads, and how it evaluates when facts are unknown."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sop.cel_shape import CelSyntaxError
from sop.errors import InvalidFacts
from sop.guards import (
    Bindings,
    Guard,
    GuardInvalid,
    GuardSyntaxError,
    GuardTable,
    GuardTooComplex,
    Truth,
    bind_facts,
    bind_params,
    compile_guard,
    guards_of,
)
from sop.loader import shipped_definition
from sop.schema import Definition, FactSpec, ParamSpec


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


# -- the shared context and the context of one's own give the same verdicts ----------------
#
# Bindings hands plain values to CEL through a per-thread context shared by the cases of a
# programme (parameters and null facts in it, other facts read through its resolver); any
# other value makes it convert every variable up front into a context of its own, as the cel
# documentation describes. A value of neither kind forces the second path here (a map that no
# guard reads, so what is missing is the same).


def own_context(facts: Mapping[str, Any], params: Mapping[str, Any] | None) -> Bindings:
    return Bindings({**facts, "not_read_by_any_guard": {}}, params)


TRICKY = (
    'languages.exists(age, age == "sq") && age > 3',  # a comprehension variable named as a fact
    "regime == null",
    'regime != null && regime == "ecowas"',
    "unknown_fact || flag",
    "unknown_fact && flag",
    "age + years > 3.0",  # int and double do not mix
    "age >= params.min_years && flag",
    "size(params.codes) == 0 || born < timestamp('2010-01-01T00:00:00Z')",
    "age",  # not a bool
    "1.0 / params.ratio < 0.0",
)

PARAM_SPECS = {
    "min_years": ParamSpec(type="int", description="x", default=5),
    "codes": ParamSpec(type="list[string]", description="x", default=[]),
    "ratio": ParamSpec(type="float", description="x", default=1.0),
}


@cache
def shipped_guards() -> tuple[tuple[Definition, tuple[Guard, ...]], ...]:
    """Each shipped definition with every guard it holds (loaded once: loading verifies)."""
    found = []
    for name in ("avrr-joint", "enforcement"):
        d = shipped_definition(name)
        texts = [b.when for b in d.start] + [i.when for i in d.interrupts]
        for stage in d.stages:
            texts.append(stage.when)
            texts += [b.when for bs in stage.outcomes.values() for b in bs]
        table = guards_of(d)
        found.append((d, tuple(table.get(t) for t in dict.fromkeys(texts) if t is not None)))
    return tuple(found)


def _value(kind: str) -> st.SearchStrategy[Any]:
    return {
        "bool": st.booleans(),
        "int": st.integers(min_value=-3, max_value=40),
        "float": st.sampled_from([0.0, -0.0, 2.5, 5.0, 6.0, 30.0]),
        "string": st.sampled_from(["SRB", "GHA", "NGA", "ARG", "", "good", "basic"]),
        "date": st.sampled_from([datetime(2000, 1, 1, tzinfo=UTC), date(2019, 5, 2)]),
        "list[string]": st.lists(st.sampled_from(["GHA", "SRB", "sq"]), max_size=2),
    }[kind]


def _facts(specs: Mapping[str, FactSpec]) -> st.SearchStrategy[dict[str, Any]]:
    """Some facts of every kind: absent, null (nullable ones), or a value of their type."""
    return st.fixed_dictionaries(
        {},
        optional={
            name: (st.none() | _value(spec.type)) if spec.nullable else _value(spec.type)
            for name, spec in specs.items()
        },
    )


TRICKY_FACTS = FACTS | {"flag": FactSpec(type="bool", description="x")}


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_shared_and_own_contexts_give_every_shipped_and_tricky_guard_the_same_verdict(
    data: st.DataObject,
) -> None:
    for d, guards in shipped_guards():
        facts = bind_facts(d.facts, data.draw(_facts(d.facts)))
        params = bind_params(d.params, {})
        shared, own = Bindings(facts, params), own_context(facts, params)
        assert [shared.evaluate(g) for g in guards] == [own.evaluate(g) for g in guards]
    facts = bind_facts(TRICKY_FACTS, data.draw(_facts(TRICKY_FACTS)))
    programme = st.fixed_dictionaries(
        {},
        optional={
            "min_years": st.integers(0, 9),
            "ratio": st.sampled_from([1.0, -0.0, 0.0, 2.0]),
        },
    )
    params = bind_params(PARAM_SPECS, data.draw(programme))
    guards = [tricky_guard(text) for text in TRICKY]
    shared, own = Bindings(facts, params), own_context(facts, params)
    assert [shared.evaluate(g) for g in guards] == [own.evaluate(g) for g in guards]


@cache
def tricky_guard(source: str) -> Guard:
    return compile_guard(source)


def test_bindings_sharing_a_context_on_one_thread_each_read_their_own_facts() -> None:
    params = {"min_years": 5}
    yes, no = Bindings({"flag": True}, params), Bindings({"flag": False}, params)
    for source in ("flag", "flag == true", "!flag"):
        guard = compile_guard(source)
        assert (yes.evaluate(guard).truth, no.evaluate(guard).truth) == (
            (Truth.FALSE, Truth.TRUE) if source == "!flag" else (Truth.TRUE, Truth.FALSE)
        )


def test_bindings_handed_to_another_thread_still_read_their_own_facts() -> None:
    params = {"min_years": 5}
    yes, no = Bindings({"flag": True}, params), Bindings({"flag": False}, params)
    no.evaluate(compile_guard("!flag"))  # the shared context now reads no's facts
    with ThreadPoolExecutor(max_workers=1) as pool:
        elsewhere = pool.submit(yes.evaluate, compile_guard("flag")).result()
    assert elsewhere.truth is Truth.TRUE
    assert no.evaluate(compile_guard("flag")).truth is Truth.FALSE


def test_programmes_with_different_parameters_do_not_share_a_context() -> None:
    guard = "years >= params.min_years"
    assert truth(guard, {"years": 3}, {"min_years": 5}) is Truth.FALSE
    assert truth(guard, {"years": 3}, {"min_years": 2}) is Truth.TRUE
    # Equal in Python, not in CEL: 1, True and 1.0; 0.0 and -0.0.
    for value in (1, True, 1.0):
        for source in ("params.p == 1", "params.p == true", "params.p == 1.0"):
            params = {"p": value}
            assert Bindings({}, params).evaluate(compile_guard(source)) == own_context(
                {}, params
            ).evaluate(compile_guard(source))
    negative = compile_guard("1.0 / params.p < 0.0")
    assert Bindings({}, {"p": 0.0}).evaluate(negative).truth is Truth.FALSE
    assert Bindings({}, {"p": -0.0}).evaluate(negative).truth is Truth.TRUE


def test_a_null_fact_is_null_and_an_absent_one_unknown_in_either_order() -> None:
    guard = compile_guard("regime == null")
    for first, second in (({"regime": None}, {}), ({}, {"regime": None})):
        verdicts = [Bindings(facts, None).evaluate(guard) for facts in (first, second)]
        null, absent = verdicts if "regime" in first else verdicts[::-1]
        assert null.truth is Truth.TRUE
        assert (absent.truth, absent.missing) == (Truth.UNKNOWN, {"regime"})


def test_a_list_fact_changed_after_binding_does_not_change_the_verdict() -> None:
    languages = ["sq"]
    bindings = Bindings({"languages": languages}, None)
    languages.append("fr")
    assert bindings.evaluate(compile_guard("size(languages) == 1")).truth is Truth.TRUE
