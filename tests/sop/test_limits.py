"""The static limits on guards and documents: each at its bound is allowed, one past it is
refused, and what is refused is named with the maximum and what was found."""

from __future__ import annotations

from sop.limits import (
    DOCUMENT_BYTES,
    GUARD_CHARACTERS,
    GUARD_COMPREHENSIONS,
    GUARD_DEPTH,
    GUARD_LIST_ITEMS,
    Breach,
    document_breach,
    guard_breaches,
)


def limits(source: str) -> list[tuple[str, int, int]]:
    return [(b.limit, b.maximum, b.found) for b in guard_breaches(source)]


def test_a_guard_of_1000_characters_is_allowed_and_one_more_is_not() -> None:
    at_limit = "x" + " " * (GUARD_CHARACTERS - 1)
    assert limits(at_limit) == []
    assert limits(at_limit + " ") == [("guard-length", 1_000, 1_001)]


def test_depth_32_is_allowed_and_33_is_not() -> None:
    assert limits("!" * (GUARD_DEPTH - 1) + "a") == []
    assert limits("!" * GUARD_DEPTH + "a") == [("guard-depth", 32, 33)]
    # Parentheses are levels too: nesting is measured as written.
    assert limits("(" * GUARD_DEPTH + "a" + ")" * GUARD_DEPTH) == [("guard-depth", 32, 33)]


def test_a_long_disjunction_of_facts_is_not_deep() -> None:
    assert limits(" || ".join(f"f{i}" for i in range(120))) == []


def test_two_nested_comprehensions_are_allowed_and_three_are_not() -> None:
    two = "xs.all(a, xs.exists(b, a == b))"
    assert limits(two) == []
    assert limits(f"xs.all(c, {two})") == [("guard-comprehensions", GUARD_COMPREHENSIONS, 3)]
    # Side by side is not nested; a comprehension over a comprehension's result is.
    assert limits(f"{two} && {two}") == []
    assert limits("xs.map(a, a).filter(b, b).all(c, c)") == [("guard-comprehensions", 2, 3)]


def test_list_literals_of_100_items_are_allowed_and_101_are_not() -> None:
    assert limits("x in [" + ",".join(["1"] * GUARD_LIST_ITEMS) + "]") == []
    assert limits("x in [" + ",".join(["1"] * 101) + "]") == [("guard-list-items", 100, 101)]
    assert limits("x in {" + ",".join(f"{i}: 1" for i in range(101)) + "}") == [
        ("guard-list-items", 100, 101)
    ]


def test_every_limit_a_guard_breaks_is_named() -> None:
    source = "[" + ",".join(["1"] * 101) + "].all(a, [1].all(b, [1].all(c, " + "!" * 40 + "a)))"
    assert [b.limit for b in guard_breaches(source)] == [
        "guard-depth",
        "guard-comprehensions",
        "guard-list-items",
    ]


def test_a_document_is_measured_in_utf8_bytes() -> None:
    assert document_breach("x" * DOCUMENT_BYTES) is None
    assert document_breach("x" * (DOCUMENT_BYTES + 1)) == Breach(
        "document-size",
        DOCUMENT_BYTES,
        DOCUMENT_BYTES + 1,
        "has 262,145 bytes; at most 262,144 (256 KiB) are allowed",
    )
    breach = document_breach("é" * (DOCUMENT_BYTES // 2 + 1))
    assert breach is not None
    assert breach.found == DOCUMENT_BYTES + 2
