"""The fixed vocabularies an SOP definition is checked against."""

from __future__ import annotations

from contracts.categories import CATEGORY_NAMES

CATEGORIES: frozenset[str] = CATEGORY_NAMES
"""DESIGN §1: every stage's ``needs`` is a subset of these, and the referral drafted for the
stage carries exactly those categories and no more."""

CEL_RESERVED: frozenset[str] = frozenset(
    {
        # CEL spec "Syntax": reserved words and the literals.
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
        # Type identifiers, which evaluate to types rather than failing as unknown variables:
        # a fact called ``int`` would silently read the type, not the fact.
        "int",
        "uint",
        "double",
        "bool",
        "string",
        "bytes",
        "list",
        "map",
        "null_type",
        "type",
        "dyn",
        # Bound by the engine to the programme's parameters.
        "params",
    }
)
"""Names a fact or parameter may not take, because a CEL guard could not read them as facts."""
