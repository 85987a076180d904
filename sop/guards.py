"""CEL guards over case facts, compiled once per definition.

Guards are CEL (``common-expression-language``, ``import cel``), a small, side-effect-free,
terminating language: a guard cannot loop, do I/O or read anything but what it is given. A
guard names facts as top-level variables (``unaccompanied || separated``) and the programme's
parameters as ``params.NAME`` (``years_in_host_country >= params.min_years``), so a compiled
program's ``variables()`` is the set of facts it reads and can be checked against the
definition's declared facts before any case is seen.

Unknown facts. A fact that is absent from the case, or null (``CaseProfile`` uses null for "not
known"), is *not bound* at all; it is not given a default. The guard is then evaluated with the
facts that are known:

* if CEL decides it anyway, the answer stands. CEL's ``&&`` and ``||`` absorb an error when the
  other side decides the result (``true || <unknown>`` is true, ``false && <unknown>`` is
  false), and every other construct is strict, so a value computed without a fact is the value
  for *every* possible value of that fact;
* otherwise the result is :attr:`Truth.UNKNOWN`, with the facts it would need. The engine then
  raises :class:`~sop.errors.MissingFacts` rather than choose: reading an unknown
  ``unaccompanied`` as false (or as a typed null that makes the guard false) would send a child
  down the adult path and past the best-interests determination (CRC art. 3). The caller
  records the facts and retries.

A fact declared ``nullable`` is the exception: there null is a value (no free-movement regime
applies), bound as CEL ``null``, and guards test it (``regional_free_movement != null``).

The same three-valued evaluation serves :mod:`sop.verify`: with only a profile's facts bound
(``unaccompanied = true``), a guard that comes out false is false for every such person.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, TypeVar, cast

import cel

from sop.cel_shape import CelSyntaxError
from sop.errors import InvalidFacts
from sop.limits import UNMEASURABLE, Breach, guard_breaches
from sop.schema import Definition, FactSpec, FactType, ParamSpec


class Truth(Enum):
    """The value of a guard under a partial assignment of facts."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    def and_(self, other: Truth) -> Truth:
        """Kleene conjunction: false wins, then unknown."""
        if Truth.FALSE in (self, other):
            return Truth.FALSE
        if Truth.UNKNOWN in (self, other):
            return Truth.UNKNOWN
        return Truth.TRUE


@dataclass(frozen=True, slots=True)
class Verdict:
    """A guard's value, and the unbound variables it would need when it is unknown."""

    truth: Truth
    missing: frozenset[str] = frozenset()
    error: str | None = None


_TRUE = Verdict(Truth.TRUE)
_FALSE = Verdict(Truth.FALSE)
ALWAYS = _TRUE
"""The verdict of an absent guard."""


class GuardInvalid(ValueError):
    """The guard cannot be used: it is not CEL, or it is larger than :mod:`sop.limits` allows."""


class GuardSyntaxError(GuardInvalid):
    """The guard is not valid CEL."""


class GuardTooComplex(GuardInvalid):
    """The guard breaks the static limits of :mod:`sop.limits`; it was never compiled."""

    def __init__(self, breaches: tuple[Breach, ...]) -> None:
        self.breaches = breaches
        super().__init__("; ".join(f"{b.limit}: {b.message}" for b in breaches))


@dataclass(frozen=True, slots=True)
class Guard:
    """A compiled guard and what static analysis learnt about it."""

    source: str
    program: cel.Program
    facts: frozenset[str]
    """Top-level variables the guard reads, ``params`` and comprehension variables excluded."""
    params: frozenset[str]
    """Parameters read as ``params.NAME``."""
    misuse: tuple[str, ...]
    """Ways the guard reads parameters other than as ``params.NAME`` (reported by verify)."""

    @property
    def variables(self) -> frozenset[str]:
        """Every top-level name the guard needs bound: its facts, and ``params`` if it reads any."""
        return self.facts | ({"params"} if self.params or self.misuse else set())


_COMPREHENSION = re.compile(
    r"\.\s*(?:all|exists|exists_one|existsOne|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,"
)
_PARAMS = re.compile(r"(?<![.\w])params\b(?P<rest>\s*\.\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*))?")


def _mask_strings(source: str) -> str:
    """``source`` with the contents of string literals blanked, so scans see only code.

    CEL strings: single, double or triple quotes, optionally raw (``r''``, no escapes).
    """
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char not in "'\"":
            out.append(char)
            i += 1
            continue
        quote = source[i : i + 3] if source[i : i + 3] in ("'''", '"""') else char
        prefix = source[max(0, i - 2) : i].lower()
        raw = prefix.endswith("r") or prefix == "rb"
        j = i + len(quote)
        while j < n and not source.startswith(quote, j):
            j += 2 if source[j] == "\\" and not raw else 1
        j = min(j, n)
        out.append(quote + " " * (j - i - len(quote)) + source[j : j + len(quote)])
        i = j + len(quote)
    return "".join(out)


def compile_guard(source: str) -> Guard:
    """Compile and analyse one guard: :class:`GuardTooComplex` if it breaks a static limit,
    checked first so that such a guard is never compiled nor evaluated;
    :class:`GuardSyntaxError` if it is not CEL."""
    try:
        breaches: tuple[Breach, ...] | None = guard_breaches(source)
    except CelSyntaxError:
        breaches = None
    if breaches:
        raise GuardTooComplex(breaches)
    try:
        program = cel.compile(source)
    except ValueError as error:
        raise GuardSyntaxError(_first_line(str(error))) from error
    if breaches is None:
        raise GuardTooComplex((UNMEASURABLE,))
    code = _mask_strings(source)
    bound = set(_COMPREHENSION.findall(code))
    params: set[str] = set()
    misuse: list[str] = []
    for match in _PARAMS.finditer(code):
        if match.group("name"):
            params.add(match.group("name"))
        else:
            misuse.append("read parameters as params.NAME")
    variables = set(program.variables()) - {"params"}
    return Guard(
        source=source,
        program=program,
        facts=frozenset(variables - bound),
        params=frozenset(params),
        misuse=tuple(dict.fromkeys(misuse)),
    )


def _first_line(message: str) -> str:
    """The informative part of a CEL error: its first sentence, or the parser's first error."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        found = re.search(r"ERROR: <input>:(\d+):(\d+): (.*)", line)
        if found:
            return f"column {found.group(2)}: {found.group(3)}"
    first = lines[0] if lines else message
    return first.split(". ")[0].rstrip(".")


T = TypeVar("T")


class GuardTable:
    """The compiled guards of one definition, each compiled on first use and then reused."""

    def __init__(self) -> None:
        self._compiled: dict[str, Guard | GuardInvalid] = {}
        self._derived: dict[tuple[str, int], tuple[object, object]] = {}
        self.compilations = 0

    def get(self, source: str) -> Guard:
        """The compiled guard for ``source``; :class:`GuardInvalid` if it cannot be used."""
        found = self.lookup(source)
        if isinstance(found, GuardInvalid):
            raise found
        return found

    def lookup(self, source: str) -> Guard | GuardInvalid:
        """The compiled guard for ``source``, or why it cannot be used (not raised)."""
        found = self._compiled.get(source)
        if found is None:
            self.compilations += 1
            try:
                found = compile_guard(source)
            except GuardInvalid as error:
                found = error
            self._compiled[source] = found
        return found

    def derived(self, kind: str, part: object, build: Callable[[], T]) -> T:
        """What ``build`` makes of ``part`` of the definition (the branches of an outcome, the
        interrupts) with their guards looked up: made once per ``kind`` and part.

        ``part`` is keyed by identity and held, so that the key cannot come to name another
        object: a definition is immutable, so the same object has the same content, and a
        changed definition is a copy with a table of its own (``Definition.model_copy``).
        """
        key = (kind, id(part))
        found = self._derived.get(key)
        if found is None or found[0] is not part:
            found = self._derived[key] = (part, build())
        return cast(T, found[1])


def guards_of(definition: Definition) -> GuardTable:
    """The definition's guard table, created once and kept on the (immutable) definition."""
    table = (definition.__pydantic_private__ or {}).get("_guards")  # see Definition.stage_map
    if not isinstance(table, GuardTable):
        table = GuardTable()
        definition._guards = table
    return table


class Bindings:
    """Facts (and parameters) bound for evaluation; build once, evaluate many guards.

    Handing a value to CEL costs far more than evaluating a guard (the ``cel`` binding tries
    one Python type after another; a map of five parameters costs as much as a dozen guards),
    and an ``advance`` reads most facts once at most. So, when every value is of a kind CEL
    converts without fail (:func:`_plain`), the parameters and the null facts, the same for
    every case of a programme, are converted once per thread into a shared
    :class:`cel.Context` (:func:`_shared_context`), and the other facts reach CEL through
    that context's resolver, converted only when a guard reads one. Anything else takes the
    path the ``cel`` documentation describes: every variable converted up front, in a context
    of its own. Both give the same verdicts (``tests/sop/test_guards.py``).
    """

    __slots__ = (
        "_context",
        "_facts",
        "_lookup",
        "_params",
        "_shared",
        "_thread",
        "_verdicts",
        "names",
    )

    def __init__(self, facts: Mapping[str, Any], params: Mapping[str, Any] | None) -> None:
        self._verdicts: dict[str, Verdict] = {}
        self._params = params
        self.names = frozenset(facts) | _PARAMS_NAME if params is not None else frozenset(facts)
        sharing = _sharing(facts, params)
        if sharing is None:
            self._facts: dict[str, Any] = {}
            self._lookup: Callable[[str], Any] | None = None
            self._shared: _Shared | None = None
            self._context = _own_context(facts, params)
        else:
            self._facts, nulls, key = sharing
            self._lookup = self._facts.get  # one object, so that the shared context can tell
            self._shared = _shared_context(key, nulls, params)
            self._context = self._shared.context
        self._thread = threading.get_ident()

    def evaluate(self, guard: Guard) -> Verdict:
        """Three-valued evaluation (module docstring). Type errors with every variable bound
        are reported as ``UNKNOWN`` with ``error`` set and nothing missing."""
        # The same guard on the same bindings has the same verdict: an interrupt's condition
        # is often an entry condition the engine has just evaluated.
        verdict = self._verdicts.get(guard.source)
        if verdict is None:
            verdict = self._verdicts[guard.source] = self._evaluate(guard)
        return verdict

    def _evaluate(self, guard: Guard) -> Verdict:
        shared, lookup = self._shared, self._lookup
        if shared is not None and lookup is not None:
            if threading.get_ident() != self._thread:
                # Handed to another thread: the shared context stays with the one that made
                # it, and these bindings get a context of their own, as before.
                self._context = _own_context(self._facts, self._params)
                self._shared = self._lookup = None
            elif shared.resolver is not lookup:
                # Another Bindings of this thread may have used the shared context since.
                self._context.set_variable_resolver(lookup)
                shared.resolver = lookup
        try:
            result = guard.program.execute(self._context)
        except (RuntimeError, TypeError, ValueError, KeyError) as error:
            return Verdict(Truth.UNKNOWN, guard.variables - self.names, _first_line(str(error)))
        if result is True:
            return _TRUE
        if result is False:
            return _FALSE
        return Verdict(
            Truth.UNKNOWN, guard.variables - self.names, f"evaluated to {result!r}, not a bool"
        )


_I64 = range(-(2**63), 2**63)


def _plain(value: Any) -> bool:
    """Whether CEL converts ``value`` without fail: a bool, a float, a string, an int that fits
    in 64 bits, an aware datetime, or a list or tuple of strings."""
    kind = type(value)
    if kind is bool or kind is str or kind is float:
        return True
    if kind is int:
        return value in _I64
    if kind is datetime:
        return value.tzinfo is not None
    return (kind is list or kind is tuple) and all(type(item) is str for item in value)


def _frozen(value: Any) -> tuple[Any, ...]:
    """A plain value as part of a key: a list as a tuple, a float by its exact spelling (so
    that -0.0 is not 0.0, and NaN is NaN), a datetime with its offset (equal instants are not
    the same timestamp to CEL), and every value with its type (1 is not True)."""
    kind = type(value)
    if kind is float:
        return (kind, value.hex())
    if kind is datetime:
        return (kind, value.isoformat())
    if kind is list or kind is tuple:
        return (kind, *value)
    return (kind, value)


_PARAMS_NAME = frozenset({"params"})


def _own_context(facts: Mapping[str, Any], params: Mapping[str, Any] | None) -> cel.Context:
    """A context of its own holding every variable, converted now (as ``cel`` documents)."""
    variables = dict(facts)
    if params is not None:
        variables["params"] = dict(params)
    return cel.Context(variables=variables)


def _sharing(
    facts: Mapping[str, Any], params: Mapping[str, Any] | None
) -> tuple[dict[str, Any], tuple[str, ...], Hashable] | None:
    """The facts for the resolver, the null facts, and the key of the shared context; None when
    a value is not plain (then every value is converted up front, as before).

    The resolver answers None for a null fact, which CEL reads as "not given": null facts are
    variables of the shared context instead, and part of its key.
    """
    if "params" in facts and params is not None:
        return None  # a fact called params is shadowed by the parameters: keep one rule for it
    lookup = dict(facts)
    nulls = []
    for name, value in lookup.items():
        kind = type(value)
        if type(name) is not str:
            return None
        if kind is bool or kind is str or kind is float:
            continue
        if value is None:
            nulls.append(name)
        elif not _plain(value):
            return None
        elif kind is list:
            # Frozen as the tuple CEL reads as the same list: a caller's later change to it
            # must not reach a guard, as it could not when every value was converted at once.
            lookup[name] = tuple(value)
    if params is None:
        return lookup, tuple(nulls), (None, *nulls)
    key: list[tuple[Any, ...]] = []
    for name, value in params.items():
        kind = type(value)
        if kind is bool or kind is str or (kind is int and value in _I64):
            key.append((name, kind, value))  # as _frozen has it, without the call
        elif _plain(value):
            key.append((name, *_frozen(value)))
        else:
            return None
    return lookup, tuple(nulls), (tuple(key), *nulls)


_SHARED_CONTEXTS = 16
"""Contexts kept per thread: one per programme and set of null facts in use, in practice."""

_threads = threading.local()


class _Shared:
    """A thread's context holding parameters and null facts, and the resolver set on it."""

    __slots__ = ("context", "resolver")

    def __init__(self, context: cel.Context) -> None:
        self.context = context
        self.resolver: Callable[[str], Any] | None = None


def _shared_context(
    key: Hashable, nulls: tuple[str, ...], params: Mapping[str, Any] | None
) -> _Shared:
    """This thread's context holding ``params`` and the null facts: a ``cel.Context`` is not
    thread-safe, and each evaluation may set the resolver on it.

    The resolver last set stays until the next evaluation with the same context on the thread,
    and keeps the facts it reads alive until then (in memory only; nothing is written).
    """
    cache: dict[Hashable, _Shared] | None = getattr(_threads, "contexts", None)
    if cache is None:
        cache = _threads.contexts = {}
    shared = cache.get(key)
    if shared is None:
        if len(cache) >= _SHARED_CONTEXTS:
            del cache[next(iter(cache))]
        variables: dict[str, Any] = dict.fromkeys(nulls)
        if params is not None:
            variables["params"] = dict(params)
        shared = cache[key] = _Shared(cel.Context(variables=variables))
    return shared


def _convert(name: str, kind: FactType, value: Any) -> Any:
    """A fact value as CEL should see it, or ``ValueError`` saying what was expected."""
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        # CEL does not mix int and double in arithmetic; a float fact is always a double.
        return float(value)
    if kind == "string" and isinstance(value, str):
        return value
    if (
        kind == "list[string]"
        and isinstance(value, list | tuple)
        and all(isinstance(item, str) for item in value)
    ):
        return list(value)
    if kind == "date":
        day: date | None = None
        if isinstance(value, datetime):
            day = (value.astimezone(UTC) if value.tzinfo else value).date()
        elif isinstance(value, date):
            day = value
        elif isinstance(value, str):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                day = None
        if day is not None:
            # CEL has timestamps, not dates: a date is its midnight in UTC.
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
    raise ValueError(f"{name} must be a {kind}, not {value!r}")


_AS_IS: dict[str, type] = {"bool": bool, "int": int, "float": float, "string": str}
"""Declared types whose values of exactly this Python type are bound as they are."""


def bind_facts(specs: Mapping[str, FactSpec], facts: Mapping[str, Any]) -> dict[str, Any]:
    """The declared facts that are known, converted; undeclared facts are left out.

    Leaving undeclared facts out is deliberate: a case profile carries more than one SOP reads
    (``date_of_birth``), and a guard can only read declared facts anyway (verified).
    """
    bound: dict[str, Any] = {}
    problems: list[str] = []
    for name, spec in specs.items():
        value = facts.get(name)
        if value is None:
            if spec.nullable and name in facts:
                bound[name] = None
            continue
        if type(value) is _AS_IS.get(spec.type):
            bound[name] = value  # what _convert returns for it, without the checks
            continue
        try:
            bound[name] = _convert(name, spec.type, value)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise InvalidFacts(problems)
    return bound


def bind_params(specs: Mapping[str, ParamSpec], params: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared parameter: the programme's value, else the default; all are required."""
    bound: dict[str, Any] = {}
    problems: list[str] = []
    for name in params:
        if name not in specs:
            problems.append(f"params.{name} is not a parameter of this SOP")
    for name, spec in specs.items():
        value = params.get(name, spec.default)
        if value is None:
            problems.append(f"params.{name} is required ({spec.description})")
            continue
        if type(value) is _AS_IS.get(spec.type):
            bound[name] = value
            continue
        try:
            bound[name] = _convert(f"params.{name}", spec.type, value)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise InvalidFacts(problems)
    return bound


SAMPLES: dict[FactType, tuple[Any, Any]] = {
    "bool": (False, True),
    "int": (1, 30),
    "float": (1.0, 30.0),
    "string": ("x", "y"),
    "date": (datetime(2000, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)),
    "list[string]": (["x"], []),
}
"""Typed sample values used by :mod:`sop.verify` to find guards that fail on well-typed facts."""


def sample_bindings(
    facts: Mapping[str, FactSpec],
    params: Mapping[str, ParamSpec],
    which: int,
    *,
    nulls: bool = False,
) -> Bindings:
    """Every fact and parameter at a sample value of its declared type (``which`` of two), and
    nullable facts at null when ``nulls``; parameters at their defaults where they have one."""
    fact_values = {
        name: None if nulls and spec.nullable else SAMPLES[spec.type][which]
        for name, spec in facts.items()
    }
    param_values = {
        name: spec.default if spec.default is not None else SAMPLES[spec.type][which]
        for name, spec in params.items()
    }
    return Bindings(fact_values, param_values)
