"""Faults: every reason a document (agreement, consent, category data) is refused, at once.

A focal point fixing an agreement should see every problem in one answer, not one per
round-trip; so validation in ``contracts`` collects :class:`Fault` records (where, what, and a
stable code) and raises them together. The API renders them as the ``violations`` of an
RFC 9457 problem document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts.patterns import pattern_message

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Fault:
    """One thing wrong with a document: where (``loc``), what (``message``), and a stable ``code``.

    ``loc`` follows pydantic's convention (field names and list indexes from the document
    root), so a client can point at the offending input.
    """

    loc: Loc
    message: str
    code: str

    @property
    def path(self) -> str:
        """``categories.health.data_roles``, ``parties[2]``: the location as one string."""
        out = ""
        for part in self.loc:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else part
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "loc": list(self.loc),
            "path": self.path,
            "message": self.message,
            "code": self.code,
        }


class ContractError(Exception):
    """Base of the domain errors raised by ``contracts`` (mapped to problem documents elsewhere)."""


class FaultsError(ContractError):
    """A document was refused; ``faults`` lists every reason, never only the first."""

    def __init__(self, faults: Sequence[Fault]) -> None:
        self.faults: tuple[Fault, ...] = tuple(faults)
        summary = "; ".join(f"{f.path or '(document)'}: {f.message}" for f in self.faults)
        super().__init__(summary or "invalid")


class InvalidTransition(ContractError):
    """A lifecycle action that the current status does not allow (e.g. signing a draft)."""

    def __init__(self, action: str, status: str, message: str) -> None:
        self.action = action
        self.status = status
        self.message = message
        super().__init__(message)


_PLAIN_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a recognised field",
}


def faults_from_validation_error(error: ValidationError, prefix: Loc = ()) -> list[Fault]:
    """Pydantic's errors as faults, with messages a person can act on."""
    faults = []
    for item in error.errors(include_url=False):
        code = str(item["type"])
        message = pattern_message(item) or _PLAIN_MESSAGES.get(code, str(item["msg"]))
        # A ValueError raised in our own validators arrives as "Value error, <text>".
        message = message.removeprefix("Value error, ")
        faults.append(Fault((*prefix, *item["loc"]), message, code))
    return faults


@cache
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    field = model.model_fields[name]
    # The field's own constraints (min_length, pattern, ...) travel as Annotated metadata.
    annotated: Any = Annotated[field.annotation, field]
    return TypeAdapter(annotated)


def parse_fields(
    model: type[BaseModel], data: object, *, skip: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], list[Fault]]:
    """Validate each top-level field of ``model`` on its own.

    Pydantic stops checking a model's cross-field rules as soon as one field fails, which would
    hide, say, a sender who is not a party behind a badly written date. Parsing field by field
    keeps the fields that are fine, so the caller can still check the rules that only need them
    and report everything in one answer. Fields named in ``skip`` are left to the caller.
    Field validators declared on ``model`` do not run here: constraints belong in the types.
    """
    if not isinstance(data, Mapping):
        return {}, [Fault((), "must be a JSON object", "model_type")]
    values: dict[str, Any] = {}
    faults: list[Fault] = []
    for key in data:
        if key not in model.model_fields:
            faults.append(Fault((str(key),), _PLAIN_MESSAGES["extra_forbidden"], "extra_forbidden"))
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        if name not in data:
            if field.is_required():
                faults.append(Fault((name,), _PLAIN_MESSAGES["missing"], "missing"))
            continue
        try:
            values[name] = _field_adapter(model, name).validate_python(data[name])
        except ValidationError as error:
            faults.extend(faults_from_validation_error(error, (name,)))
    return values, faults
