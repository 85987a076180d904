"""How big a CEL expression is, measured from its source before anything compiles it.

The ``cel`` package exposes no syntax tree (a ``Program`` tells its variables and functions,
nothing about its shape), so this module parses CEL itself, just far enough to measure it. It
follows the grammar of the CEL specification (``CEL.g4``: precedence, string and bytes literals
with their raw and triple-quoted forms and escapes, ``//`` comments, numbers, macros) and
accepts a little more than ``cel`` does (trailing commas, optional ``?.`` selections) and, as
far as ``tests/sop/test_cel_shape.py`` finds comparing the two, never less. Should it fail on
CEL that ``cel`` accepts, :mod:`sop.guards` refuses the guard: a mismatch fails closed.

What it measures, in the terms :mod:`sop.limits` bounds:

* ``depth``: how deeply the expression nests as written. Every operator, call, selection,
  index, parenthesised group, list, map or message literal is one level above what it
  contains; identifiers and literals are one level. Chains of ``&&`` or ``||`` count as a
  balanced tree (as cel-go's parser builds them), so a long disjunction of facts stays
  shallow.
* ``comprehensions``: how many comprehension macros (``all``, ``exists``, ``exists_one``,
  ``map``, ``filter``, called as methods or as functions) enclose one another. A macro in the
  *range* of another counts as nested too: ``xs.map(a, xs)`` has ``len(xs)**2`` items, so
  iterating over it costs what a nested loop costs.
* ``list_items``: the most items in one list or map literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "existsOne", "map", "filter"})
"""Macro names that loop: CEL's comprehensions and the ``existsOne`` alias ``cel`` accepts."""

MAX_NESTING = 40
"""Where measuring stops: an expression nested deeper than this is reported as deeper than
this, without recursing further (Python's own recursion limit is near)."""


class Kind(Enum):
    NUMBER = "number"
    STRING = "string"
    IDENT = "ident"
    KEYWORD = "keyword"
    PUNCT = "punct"
    END = "end"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class Shape:
    """What :func:`measure` found. ``truncated`` when nesting passed :data:`MAX_NESTING` and
    measuring stopped there: ``depth`` is then a lower bound, and the other counts partial."""

    depth: int
    comprehensions: int
    list_items: int
    truncated: bool = False


class CelSyntaxError(ValueError):
    """The source is not CEL this module can read (``cel`` then says why, or accepts it and
    the guard is refused as unmeasurable)."""


# CEL.g4 NUM_FLOAT, NUM_UINT and NUM_INT, longest first as an ANTLR lexer would match them.
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+[uU]?"
    r"|\d+\.\d+(?:[eE][+-]?\d+)?"
    r"|\d+[eE][+-]?\d+"
    r"|\.\d+(?:[eE][+-]?\d+)?"
    r"|\d+[uU]?"
)
_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
# A string's prefix: r for raw, b for bytes, or b then r (``rb`` is not CEL).
_PREFIX = re.compile(r"(?:[bB][rR]?|[rR])(?=['\"])")
_KEYWORDS = frozenset({"true", "false", "null", "in"})
_PUNCT = (
    "==", "!=", "<=", ">=", "&&", "||",
    "<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", ",", "(", ")", "[", "]", "{", "}",
)  # fmt: skip
_WHITESPACE = frozenset("\t\n\f\r ")


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, whitespace and comments dropped, ending with an END token."""
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char in _WHITESPACE:
            i += 1
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = n if end < 0 else end + 1
        elif char in "'\"" or _PREFIX.match(source, i):
            end = _string_end(source, i)
            tokens.append(Token(Kind.STRING, source[i:end], i))
            i = end
        elif char == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise CelSyntaxError(f"column {i + 1}: unterminated quoted identifier")
            tokens.append(Token(Kind.IDENT, source[i : end + 1], i))
            i = end + 1
        elif number := _NUMBER.match(source, i):
            tokens.append(Token(Kind.NUMBER, number.group(), i))
            i = number.end()
        elif ident := _IDENT.match(source, i):
            word = ident.group()
            tokens.append(Token(Kind.KEYWORD if word in _KEYWORDS else Kind.IDENT, word, i))
            i = ident.end()
        else:
            punct = next((p for p in _PUNCT if source.startswith(p, i)), None)
            if punct is None:
                raise CelSyntaxError(f"column {i + 1}: unexpected {char!r}")
            tokens.append(Token(Kind.PUNCT, punct, i))
            i += len(punct)
    tokens.append(Token(Kind.END, "", n))
    return tokens


def _string_end(source: str, start: int) -> int:
    """The offset just past the string (or bytes) literal starting at ``start``."""
    i = start
    raw = False
    while source[i] not in "'\"":
        raw = raw or source[i] in "rR"
        i += 1
    quote = source[i : i + 3] if source[i : i + 3] in ("'''", '"""') else source[i]
    i += len(quote)
    n = len(source)
    while i < n:
        if source.startswith(quote, i):
            return i + len(quote)
        if len(quote) == 1 and source[i] in "\r\n":
            break
        # An escape hides the character after the backslash, a quote included; the longer
        # escapes (\x41, \u00e9, \101) contain no quotes, so skipping one character is enough.
        i += 2 if source[i] == "\\" and not raw else 1
    raise CelSyntaxError(f"column {start + 1}: unterminated string")


@dataclass(frozen=True, slots=True)
class _Size:
    depth: int
    comprehensions: int


_LEAF = _Size(1, 0)

# Binary operators by precedence, loosest first (CEL.g4); && and || are handled as chains.
_BINARY: dict[str, int] = {
    "==": 1, "!=": 1, "<": 1, "<=": 1, ">": 1, ">=": 1, "in": 1,
    "+": 2, "-": 2,
    "*": 3, "/": 3, "%": 3,
}  # fmt: skip


class _Truncated(Exception):
    """Nesting passed :data:`MAX_NESTING`; measuring stops."""


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.at = 0
        self.nesting = 0
        self.list_items = 0

    # -- tokens ----------------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def peek(self, *texts: str) -> bool:
        token = self.token
        return token.kind in (Kind.PUNCT, Kind.KEYWORD) and token.text in texts

    def take(self, *texts: str) -> bool:
        if self.peek(*texts):
            self.at += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.take(text):
            raise self.error(f"expected {text!r}")

    def error(self, message: str) -> CelSyntaxError:
        token = self.token
        found = "end of input" if token.kind is Kind.END else repr(token.text)
        return CelSyntaxError(f"column {token.offset + 1}: {message}, found {found}")

    # -- grammar ---------------------------------------------------------------------------

    def whole(self) -> _Size:
        size = self.expr()
        if self.token.kind is not Kind.END:
            raise self.error("expected an operator or the end of the expression")
        return size

    def expr(self) -> _Size:
        """``or ['?' or ':' expr]``; every nested expression comes through here."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise _Truncated
        try:
            condition = self.chain("||")
            if not self.take("?"):
                return condition
            then = self.chain("||")
            self.expect(":")
            return _node(condition, then, self.expr())
        finally:
            self.nesting -= 1

    def chain(self, op: str) -> _Size:
        """A chain of ``||`` (of ``&&`` chains), or of ``&&`` (of binary expressions)."""
        operand = self.chain("&&") if op == "||" else self.binary(1)
        operands = [operand]
        while self.take(op):
            operands.append(self.chain("&&") if op == "||" else self.binary(1))
        if len(operands) == 1:
            return operand
        # A balanced tree of n operands is ceil(log2(n)) operator levels deep.
        levels = (len(operands) - 1).bit_length()
        return _Size(
            max(o.depth for o in operands) + levels, max(o.comprehensions for o in operands)
        )

    def binary(self, floor: int) -> _Size:
        """Precedence climbing over the left-associative binary operators."""
        left = self.unary()
        while True:
            token = self.token
            level = _BINARY.get(token.text) if token.kind in (Kind.PUNCT, Kind.KEYWORD) else None
            if level is None or level < floor:
                return left
            self.at += 1
            left = _node(left, self.binary(level + 1))

    def unary(self) -> _Size:
        operators = 0
        while self.take("!", "-"):
            operators += 1
        if operators > MAX_NESTING:
            raise _Truncated
        size = self.member()
        return _Size(size.depth + operators, size.comprehensions)

    def member(self) -> _Size:
        size, name = self.primary()
        while True:
            if self.take("."):
                self.take("?")
                field = self.identifier()
                if self.take("("):
                    size = self.call(field, [size, *self.sequence(")", self.expr)])
                else:
                    size = _node(size)
                    name = f"{name}.{field}" if name else None
                    continue
            elif self.take("["):
                self.take("?")
                size = _node(size, self.expr())
                self.expect("]")
            elif name is not None and self.take("{"):
                # A message literal: ``google.protobuf.Int64Value{value: 1}``.
                size = self.literal(entries=self.sequence("}", self.entry))
            else:
                return size
            name = None

    def primary(self) -> tuple[_Size, str | None]:
        """A primary expression, and its dotted name when it may still start a message."""
        token = self.token
        if token.kind in (Kind.NUMBER, Kind.STRING) or self.peek("true", "false", "null"):
            self.at += 1
            return _LEAF, None
        if self.take("("):
            size = self.expr()
            self.expect(")")
            return _node(size), None
        if self.take("["):
            return self.literal(entries=self.sequence("]", self.element)), None
        if self.take("{"):
            return self.literal(entries=self.sequence("}", self.entry)), None
        self.take(".")
        name = self.identifier()
        if self.take("("):
            return self.call(name, self.sequence(")", self.expr)), None
        return _LEAF, name

    def identifier(self) -> str:
        token = self.token
        if token.kind is not Kind.IDENT:
            raise self.error("expected an identifier")
        self.at += 1
        return token.text

    def sequence(self, close: str, item: Callable[[], _Size]) -> list[_Size]:
        """Comma-separated items up to ``close``; a trailing comma is accepted, and so is a
        lone one (``[,]`` and ``{,}`` are CEL: CEL.g4 allows ``','?`` after no items)."""
        items: list[_Size] = []
        if self.take(close):
            return items
        if self.take(","):
            self.expect(close)
            return items
        while True:
            items.append(item())
            if self.take(close):
                return items
            self.expect(",")
            if self.take(close):
                return items

    def element(self) -> _Size:
        self.take("?")
        return self.expr()

    def entry(self) -> _Size:
        """``key: value`` (map keys are expressions, message fields identifiers)."""
        self.take("?")
        key = self.expr()
        self.expect(":")
        return _node(key, self.expr())

    def literal(self, *, entries: list[_Size]) -> _Size:
        self.list_items = max(self.list_items, len(entries))
        return _node(*entries)

    def call(self, name: str, arguments: list[_Size]) -> _Size:
        size = _node(*arguments)
        if name in COMPREHENSIONS:
            return _Size(size.depth, size.comprehensions + 1)
        return size


def _node(*children: _Size) -> _Size:
    """A node one level above its children."""
    return _Size(
        1 + max((c.depth for c in children), default=0),
        max((c.comprehensions for c in children), default=0),
    )


def measure(source: str) -> Shape:
    """The shape of a CEL expression; :class:`CelSyntaxError` if it cannot be read.

    Linear in the length of ``source``; it compiles and evaluates nothing.
    """
    parser = _Parser(source)
    try:
        size = parser.whole()
    except _Truncated:
        return Shape(MAX_NESTING + 1, 0, parser.list_items, truncated=True)
    return Shape(size.depth, size.comprehensions, parser.list_items)
