"""Measuring CEL from its source: the same numbers whatever the strings, comments and spacing,
and every expression ``cel`` accepts can be measured."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sop.cel_shape import MAX_NESTING, CelSyntaxError, Shape, measure, tokenize


@pytest.mark.parametrize(
    ("source", "depth", "comprehensions", "items"),
    [
        ("unaccompanied", 1, 0, 0),
        ("!unaccompanied", 2, 0, 0),
        ("(unaccompanied)", 2, 0, 0),
        ("age >= params.min_age", 3, 0, 0),
        ("a || b || c || d || e", 4, 0, 0),  # balanced: ceil(log2 5) levels above the leaves
        ("a + b + c + d + e", 5, 0, 0),  # arithmetic is not balanced
        ("c ? 1 : d ? 2 : 3", 3, 0, 0),
        ("[1, 2, 3,]", 2, 0, 3),
        ("[,]", 1, 0, 0),
        ("{'a': 1, 'b': 2}", 3, 0, 2),
        ("{,}", 1, 0, 0),
        ("google.protobuf.Int64Value{value: 1}", 3, 0, 1),
        ("languages.exists(l, l == 'sq')", 3, 1, 0),
        ("xs.all(a, xs.all(b, a != b))", 4, 2, 0),
        ("xs.map(a, xs).all(b, b.size() > 0)", 4, 2, 0),  # a range built by a comprehension
        ("all(xs, a, a)", 2, 1, 0),
        ("xs.existsOne(a, a)", 2, 1, 0),
        ("has(a.b) && size(c) > 0", 4, 0, 0),
        ("-1 - -x", 3, 0, 0),
        ("1.e3", 2, 0, 0),  # 1, then the field e3: CEL.g4 has no "1." float
        (".5 + 0x1Fu + 1e-3", 3, 0, 0),
    ],
)
def test_shapes_of_known_expressions(source: str, depth: int, comprehensions: int, items: int):
    assert cel.compile(source) is not None
    assert measure(source) == Shape(depth, comprehensions, items)


@pytest.mark.parametrize(
    "literal",
    [
        "'[[[ xs.all(a, ((('",
        '"\\" ).all(x, "',
        "r'\\'",
        "'''.map(x,\n[[''' ",
        'b"\\xff.filter("',
        "bR'.exists('",
        "'\\u00e9 // not a comment'",
    ],
)
def test_strings_and_their_escapes_hide_what_they_contain(literal: str) -> None:
    source = f"x == {literal} // ).all(a, [[[ \n && y"
    assert cel.compile(source) is not None
    assert measure(source) == Shape(3, 0, 0)


def test_deep_nesting_is_reported_without_recursing_to_the_end() -> None:
    for source in ("(" * 900 + "1" + ")" * 900, "!" * 900 + "a", "[" * 900 + "]" * 900):
        shape = measure(source)
        assert shape.truncated
        assert shape.depth == MAX_NESTING + 1


@pytest.mark.parametrize(
    "source", ["a &&", "'unterminated", "x = 1", "a.1", "f(", "[1 2]", "rb'x'", "`a"]
)
def test_what_is_not_cel_cannot_be_measured(source: str) -> None:
    with pytest.raises(CelSyntaxError):
        measure(source)


def test_comments_and_whitespace_are_not_tokens() -> None:
    tokens = tokenize("a // a comment with 'quotes\n\t&& b")
    assert [t.text for t in tokens] == ["a", "&&", "b", ""]


# -- generated expressions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Expr:
    """CEL source and the shape it must measure."""

    source: str
    depth: int
    comprehensions: int = 0
    items: int = 0


def _string(text: str, style: int) -> str:
    if style == 0:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
    if style == 1:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if style == 2 and "'''" not in text and not text.endswith(("'", "\\")):
        return "r'''" + text + "'''"
    return "b'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


SPACE = st.sampled_from([" ", "", "\n", "  ", " // (( [ 'x\n"])
LEAVES = st.one_of(
    st.sampled_from(["a", "b", "true", "null", "1", "2.5", "3u", "0x1F"]).map(lambda s: Expr(s, 1)),
    st.just(Expr("params.x", 2)),
    st.builds(
        lambda text, style: Expr(_string(text, style), 1),
        st.text(alphabet="ab ()[]{}'\"\\.,\n/", max_size=12),
        st.integers(0, 3),
    ),
)


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    def top(*parts: Expr) -> tuple[int, int]:
        return (
            max((p.comprehensions for p in parts), default=0),
            max((p.items for p in parts), default=0),
        )

    def unary(e: Expr, ops: str) -> Expr:
        return Expr(f"{ops}({e.source})", e.depth + 1 + len(ops), *top(e))

    def binary(left: Expr, op: str, right: Expr, space: str) -> Expr:
        source = f"({left.source}){space}{op}{space}({right.source})"
        return Expr(source, 2 + max(left.depth, right.depth), *top(left, right))

    def chain(parts: list[Expr], op: str) -> Expr:
        source = f" {op} ".join(f"({p.source})" for p in parts)
        levels = math.ceil(math.log2(len(parts)))
        return Expr(source, 1 + max(p.depth for p in parts) + levels, *top(*parts))

    def listing(parts: list[Expr], trailing: bool) -> Expr:
        source = (
            "[" + ", ".join(p.source for p in parts) + ("," if trailing and parts else "") + "]"
        )
        comprehensions, items = top(*parts)
        return Expr(
            source, 1 + max((p.depth for p in parts), default=0), comprehensions,
            max(items, len(parts)),
        )  # fmt: skip

    def comprehension(macro: str, target: Expr, body: Expr) -> Expr:
        comprehensions, items = top(target, body)
        source = f"({target.source}).{macro}(v, {body.source})"
        return Expr(source, 1 + max(target.depth + 1, body.depth), comprehensions + 1, items)

    def call(name: str, parts: list[Expr]) -> Expr:
        source = f"{name}(" + ", ".join(p.source for p in parts) + ")"
        return Expr(source, 1 + max((p.depth for p in parts), default=0), *top(*parts))

    def ternary(c: Expr, a: Expr, b: Expr) -> Expr:
        source = f"({c.source}) ? ({a.source}) : ({b.source})"
        return Expr(source, 2 + max(c.depth, a.depth, b.depth), *top(c, a, b))

    def select(e: Expr, field: str) -> Expr:
        return Expr(f"({e.source}).{field}", e.depth + 2, *top(e))

    def index(e: Expr, i: Expr) -> Expr:
        return Expr(f"({e.source})[{i.source}]", 1 + max(e.depth + 1, i.depth), *top(e, i))

    return st.one_of(
        st.builds(unary, children, st.sampled_from(["!", "-", "!!", "--"])),
        st.builds(
            binary,
            children,
            st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "in"]),
            children,
            SPACE,
        ),
        st.builds(chain, st.lists(children, min_size=2, max_size=9), st.sampled_from(["&&", "||"])),
        st.builds(listing, st.lists(children, max_size=6), st.booleans()),
        st.builds(
            comprehension,
            st.sampled_from(["all", "exists", "exists_one", "map", "filter"]),
            children,
            children,
        ),
        st.builds(call, st.sampled_from(["size", "f", "int"]), st.lists(children, max_size=3)),
        st.builds(ternary, children, children, children),
        st.builds(select, children, st.sampled_from(["x", "size_of"])),
        st.builds(index, children, children),
    )


EXPRESSIONS = st.recursive(LEAVES, _extend, max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_generated_expressions_measure_as_they_were_built(expr: Expr) -> None:
    cel.compile(expr.source)  # the generator writes CEL: cel accepts every expression
    if expr.depth > MAX_NESTING:
        assert measure(expr.source).depth > MAX_NESTING
        return
    assert measure(expr.source) == Shape(expr.depth, expr.comprehensions, expr.items)


TOKENS = st.sampled_from(
    [
        "a", "b", "1", "2.0", ".5", "1u", "0x2", "true", "null", "in", "'s'", '"t"', "r'\\'",
        "b'x'", "'''m'''", "(", ")", "[", "]", "{", "}", ",", ":", "?", ".", "!", "-", "+",
        "*", "==", "<", "&&", "||", "all", "map", "has", "// c\n", " ", "\n",
    ]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.lists(TOKENS, max_size=14))
def test_whatever_cel_accepts_can_be_measured(tokens: list[str]) -> None:
    source = " ".join(tokens)
    try:
        cel.compile(source)
    except ValueError:
        return
    measure(source)
