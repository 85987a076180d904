"""How large an SOP definition, and each of its guards, may be (issue 13).

Definitions are uploaded by agency admins and verified by the node, so their size is an input
the node must bound. The limits are static: they are checked on the text, before YAML builds
anything and before a guard is compiled or evaluated, so a refusal costs milliseconds and
evaluation cost stays bounded at run time without a per-evaluation budget.

Why these numbers: a guard's evaluation cost grows with the product of the sizes of nested
comprehensions, so nesting and the literals they range over are bounded; the depth bound keeps
every recursive walk of the expression (ours, ``cel``'s) far from any stack limit; the length
bound caps everything else. The shipped SOP is far inside each: its longest guard has 230
characters and depth 9, and none has a comprehension. YAML anchors and aliases are refused
outright: an alias repeats a node without repeating its text, so 330 bytes can stand for
millions of nodes.

What they do not bound: ``matches`` compiles its regular expression on every evaluation, and a
short pattern (``\\w{100}``) takes milliseconds to compile. Verification evaluates every guard,
in a process killed after :data:`VERIFY_SECONDS`, so the worst of these never load.
"""

from __future__ import annotations

from dataclasses import dataclass

from sop.cel_shape import measure

GUARD_CHARACTERS = 1_000
GUARD_DEPTH = 32
GUARD_COMPREHENSIONS = 2
GUARD_LIST_ITEMS = 100
DOCUMENT_BYTES = 256 * 1024
DOCUMENT_DEPTH = 64
"""Nesting of YAML collections; an SOP needs about six, and PyYAML composes recursively."""
VERIFY_SECONDS = 2.0
"""Wall-clock time a node gives one verification before it kills the process running it."""


@dataclass(frozen=True, slots=True)
class Breach:
    """A limit a definition or guard goes past.

    ``limit`` is a stable slug (it is also the problem's ``code``); ``found`` is what the text
    has (a lower bound where measuring stopped early); ``message`` follows the name of what
    breaks the limit ("the guard of ... ``has 1,204 characters; ...``").
    """

    limit: str
    maximum: int
    found: int
    message: str


UNMEASURABLE = Breach(
    "guard-unmeasurable", 0, 1, "uses CEL syntax whose size this node cannot measure"
)
"""A guard ``cel`` compiles but :mod:`sop.cel_shape` cannot read is refused, not trusted (the
measuring parser accepts more than CEL, so this is a bug to report, not an author's error)."""


def guard_breaches(source: str) -> tuple[Breach, ...]:
    """Every limit ``source`` breaks, measured without compiling it; an over-long guard is not
    even parsed. :class:`~sop.cel_shape.CelSyntaxError` if it cannot be measured: it is then
    not CEL (compiling it says why), or CEL too unusual to measure, refused as
    :data:`UNMEASURABLE`."""
    if len(source) > GUARD_CHARACTERS:
        return (
            Breach(
                "guard-length",
                GUARD_CHARACTERS,
                len(source),
                f"has {len(source):,} characters; at most {GUARD_CHARACTERS:,} are allowed",
            ),
        )
    shape = measure(source)
    breaches: list[Breach] = []
    if shape.depth > GUARD_DEPTH:
        deep = f"more than {shape.depth - 1}" if shape.truncated else str(shape.depth)
        breaches.append(
            Breach(
                "guard-depth",
                GUARD_DEPTH,
                shape.depth,
                f"nests {deep} levels deep; at most {GUARD_DEPTH} are allowed",
            )
        )
    if shape.comprehensions > GUARD_COMPREHENSIONS:
        breaches.append(
            Breach(
                "guard-comprehensions",
                GUARD_COMPREHENSIONS,
                shape.comprehensions,
                f"nests {shape.comprehensions} comprehensions (all, exists, exists_one, map, "
                f"filter) inside one another; at most {GUARD_COMPREHENSIONS} are allowed",
            )
        )
    if shape.list_items > GUARD_LIST_ITEMS:
        breaches.append(
            Breach(
                "guard-list-items",
                GUARD_LIST_ITEMS,
                shape.list_items,
                f"has a list or map literal of {shape.list_items} items; at most "
                f"{GUARD_LIST_ITEMS} are allowed",
            )
        )
    return tuple(breaches)


def document_breach(text: str) -> Breach | None:
    """The size breach of a whole definition, counted in UTF-8 bytes as it is stored."""
    # Every character is at least one byte: only a text this short needs encoding to decide.
    size = len(text) if len(text) > DOCUMENT_BYTES else len(text.encode("utf-8"))
    if size <= DOCUMENT_BYTES:
        return None
    return Breach(
        "document-size",
        DOCUMENT_BYTES,
        size,
        f"has {size:,} bytes; at most {DOCUMENT_BYTES:,} (256 KiB) are allowed",
    )
