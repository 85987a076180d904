"""Regional free movement (DESIGN §1): whether a person's state of nationality and the host
state belong to one free-movement area, from membership shipped as data
(``sop/free_movement_areas.yaml``).

The joint SOP's guards read the answer as the fact ``same_free_movement_area``. It is derived,
never taken from the case: the roundtable's channel is a right that follows from where the
person is and whose national they are (an ECOWAS national needs no residence permit *in another
member state*), not from a regime the case names (``regional_free_movement`` said nothing of
the host state). :func:`derive_facts` computes it from the ``nationality`` fact and the
programme's ``params.host_country``; the engine applies it wherever it binds facts, so every
caller (start, advance, a fact change, the check before approval) sees the same value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

AREAS_FILE = Path(__file__).with_name("free_movement_areas.yaml")

SAME_AREA = "same_free_movement_area"
"""The derived fact, as the SOP declares it."""

NATIONALITY = "nationality"
HOST_COUNTRY = "host_country"
"""The fact and the parameter it is derived from."""


@dataclass(frozen=True)
class Area:
    """A free-movement area: its member states (ISO 3166-1 alpha-3) and the source of the list.
    ``former`` maps states that left to the date it took effect; they are not members."""

    id: str
    name: str
    members: frozenset[str]
    source: str
    former: Mapping[str, str] = field(default_factory=dict)


def parse_areas(data: Mapping[str, Any]) -> tuple[Area, ...]:
    """Areas from the data file's shape (``{areas: [{id, name, source, members, former}]}``)."""
    return tuple(
        Area(
            id=str(entry["id"]),
            name=str(entry["name"]),
            members=frozenset(str(code) for code in entry["members"]),
            source=" ".join(str(entry["source"]).split()),
            former={str(k): str(v) for k, v in (entry.get("former") or {}).items()},
        )
        for entry in data["areas"]
    )


@cache
def shipped_areas() -> tuple[Area, ...]:
    """The areas shipped with Accord (read once, on first use)."""
    return parse_areas(yaml.safe_load(AREAS_FILE.read_text(encoding="utf-8")))


def same_free_movement_area(
    nationality: str | None, host_country: str | None, areas: Sequence[Area] | None = None
) -> bool:
    """Whether a national of ``nationality`` in ``host_country`` moves freely there: both are
    members of one area, and they are two states (a person in their own state is not using
    free movement).

    An unknown nationality, or a host country the programme does not name, is false, not
    unknown: the channel rests on a nationality the person can prove, and is offered again
    (counselling's ``referred_to_alternative``) once it is recorded.
    """
    if not nationality or not host_country or nationality == host_country:
        return False
    return any(
        nationality in area.members and host_country in area.members
        for area in (shipped_areas() if areas is None else areas)
    )


def derive_facts(
    declared: Mapping[str, Any], facts: Mapping[str, Any], params: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """``facts`` with the derived free-movement fact, when the SOP ``declared`` it; a value the
    case carries under that name is replaced, never trusted."""
    if SAME_AREA not in declared:
        return facts
    nationality = facts.get(NATIONALITY)
    host = (params or {}).get(HOST_COUNTRY)
    return {
        **facts,
        SAME_AREA: same_free_movement_area(
            nationality if isinstance(nationality, str) else None,
            host if isinstance(host, str) else None,
        ),
    }
