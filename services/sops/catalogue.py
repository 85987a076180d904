"""Parsing definitions, once per text: the shipped ones in ``sop/definitions`` and the stored
uploads (DESIGN §7: guards compiled once)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

from sop.errors import DefinitionInvalid
from sop.loader import load_text, parse_definition
from sop.schema import Definition


@lru_cache(maxsize=64)
def _parse(source: str, digest: str) -> Definition:
    """Parsed and verified once per text (guards compiled once, DESIGN §7)."""
    del digest  # part of the cache key only
    return load_text(source, "sop")


def parse(source: str) -> Definition:
    return _parse(source, hashlib.sha256(source.encode()).hexdigest())


@lru_cache(maxsize=256)
def _parse_stored(source: str, digest: str) -> Definition:
    del digest  # part of the cache key only
    parsed = parse_definition(source, "sop")
    if parsed.definition is None or parsed.problems:
        raise DefinitionInvalid(parsed.problems)
    return parsed.definition


def parse_stored(source: str) -> Definition:
    """A stored definition, parsed but not verified again.

    It was verified when it was uploaded, in a process with a time limit; verifying it again
    here would redo that work inside the event loop. A guard still cannot run past the limits
    of ``sop.limits``: they are checked again when the engine first compiles it.
    """
    return _parse_stored(source, hashlib.sha256(source.encode()).hexdigest())


def shipped_sources() -> dict[str, str]:
    """``{id@version: YAML}`` of every definition shipped in ``sop/definitions``."""
    found = {}
    for entry in resources.files("sop.definitions").iterdir():
        if entry.name.endswith(".yaml"):
            source = entry.read_text()
            definition = parse(source)
            found[definition.ref] = source
    return found


def split_ref(ref: str) -> tuple[str, str]:
    sop_id, _, version = ref.partition("@")
    return sop_id, version
