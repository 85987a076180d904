"""Who acts for an SOP role in a programme (DESIGN §7).

A binding is an agency slug; or an ordered list of slugs, the first of which acts and the
others are alternates the owner may re-route to; or, for the roles that act for a state
(:data:`STATE_ROLES`), a map from the person's nationality (ISO 3166-1 alpha-3, ``XKX`` for
Kosovo) to a slug or a list. A Serbian national's travel documents are Serbia's to issue, so a
programme that serves people of several nationalities binds the origin authority once per
nationality, and the journey picks the one of the person's nationality.

Only the state roles may be bound per nationality: every other role acts the same for everyone
(the host authority is the host state's, whoever the person is), and a map there would only
hide a mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contracts.agencies import is_agency_slug
from sop.errors import SopError

__all__ = [
    "STATE_ROLES",
    "Acting",
    "Binding",
    "BindingFault",
    "BindingUnresolved",
    "NationalityUnknown",
    "NoAuthorityForNationality",
    "agencies_of",
    "binding_faults",
    "is_per_nationality",
    "resolve",
]

Binding = str | Sequence[str] | Mapping[str, str | Sequence[str]]
"""A slug, an ordered list of slugs, or (state roles only) nationality -> slug or list."""

STATE_ROLES: frozenset[str] = frozenset({"origin_authority", "reception_agency"})
"""The roles that act for a state, and so may be bound per nationality (DESIGN §7): the origin
authority (identity checks, travel documents, readmission) and the reception agency, where the
receiving state itself receives the returnee."""

_COUNTRY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Acting:
    """The agency that acts for a role, and the alternates the owner may re-route to."""

    agency: str
    alternates: tuple[str, ...] = ()


class BindingUnresolved(SopError):
    """The programme binds ``role`` per nationality and no authority fits this person."""

    code = "acting_agency_unresolved"

    def __init__(self, role: str, message: str) -> None:
        self.role = role
        super().__init__(message)


class NationalityUnknown(BindingUnresolved):
    """The person's nationality is not recorded, so no state's authority can be picked."""

    code = "nationality_unknown"


class NoAuthorityForNationality(BindingUnresolved):
    """The programme binds no authority for the person's nationality."""

    code = "no_authority_for_nationality"


def is_per_nationality(binding: Binding) -> bool:
    """True when ``binding`` maps nationalities to agencies."""
    return isinstance(binding, Mapping)


def _ordered(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def resolve(binding: Binding, nationality: str | None, *, role: str) -> Acting:
    """Who acts for ``role`` for a person of ``nationality`` (``None`` when not recorded).

    Raises :class:`NationalityUnknown` or :class:`NoAuthorityForNationality` where the binding
    is per nationality and cannot pick; their messages name the role, never the nationality,
    which is personal data.
    """
    chosen: str | Sequence[str]
    if isinstance(binding, Mapping):
        if nationality is None:
            raise NationalityUnknown(
                role,
                f"the programme binds {role} per nationality and the person's nationality is "
                "not recorded; record it on the case profile (or identity) to pick the "
                "authority",
            )
        if nationality not in binding:
            bound = ", ".join(sorted(binding))
            raise NoAuthorityForNationality(
                role,
                f"the programme binds {role} only for nationalities {bound}, and the person "
                "is of none of them; bind an authority for the person's nationality",
            )
        chosen = binding[nationality]
    else:
        chosen = binding
    slugs = _ordered(chosen)
    return Acting(slugs[0], slugs[1:])


def agencies_of(binding: Binding) -> tuple[str, ...]:
    """Every agency ``binding`` names, in order, each once."""
    if isinstance(binding, Mapping):
        named = [slug for value in binding.values() for slug in _ordered(value)]
    else:
        named = list(_ordered(binding))
    return tuple(dict.fromkeys(named))


@dataclass(frozen=True, slots=True)
class BindingFault:
    """One thing wrong with the shape of a binding; ``path`` starts with the role."""

    role: str
    path: tuple[str, ...]
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {
            "location": ".".join(("body", "bindings", *self.path)),
            "message": self.message,
            "type": self.code,
        }


def _slugs_faults(role: str, path: tuple[str, ...], value: object) -> list[BindingFault]:
    where = " ".join(path)
    if isinstance(value, str):
        slugs: list[object] = [value]
    elif isinstance(value, list | tuple):
        slugs = list(value)
        if not slugs:
            return [BindingFault(role, path, "binding_empty", f"{where}: name at least one agency")]
    else:
        return [
            BindingFault(
                role, path, "binding_invalid", f"{where}: an agency slug or a list of slugs"
            )
        ]
    faults = [
        BindingFault(role, path, "agency_slug_invalid", f"{where}: {slug!r} is not an agency slug")
        for slug in slugs
        if not isinstance(slug, str) or not is_agency_slug(slug)
    ]
    if len(set(map(str, slugs))) != len(slugs):
        faults.append(
            BindingFault(role, path, "binding_duplicate", f"{where}: an agency is listed twice")
        )
    return faults


def binding_faults(bindings: Mapping[str, object]) -> list[BindingFault]:
    """Every fault in the shape of ``bindings`` (role -> binding), all at once; empty when
    each is a slug, a non-empty list of distinct slugs, or, for a state role, a map from
    ISO 3166-1 alpha-3 codes to either."""
    faults: list[BindingFault] = []
    for role, binding in bindings.items():
        if not isinstance(binding, Mapping):
            faults += _slugs_faults(role, (role,), binding)
            continue
        if role not in STATE_ROLES:
            roles = " and ".join(sorted(STATE_ROLES))
            faults.append(
                BindingFault(
                    role,
                    (role,),
                    "binding_not_per_nationality",
                    f"{role} acts the same for everyone: only {roles} may be bound per nationality",
                )
            )
            continue
        if not binding:
            faults.append(
                BindingFault(role, (role,), "binding_empty", f"{role}: bind at least one state")
            )
        for key, value in binding.items():
            path = (role, str(key))
            if not isinstance(key, str) or not _COUNTRY.fullmatch(key):
                faults.append(
                    BindingFault(
                        role,
                        path,
                        "country_code_invalid",
                        f"{role}: {key!r} is not an ISO 3166-1 alpha-3 code (SRB, XKX, ...)",
                    )
                )
            faults += _slugs_faults(role, path, value)
    return faults
