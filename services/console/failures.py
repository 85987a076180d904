"""What went wrong with an action, in the words the API's problem document uses.

The console shows the same detail, every policy reason and every bad field the API would
return, next to the form that caused them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from contracts.faults import ContractError
from services.errors import AccordError
from services.faults import problem_for


@dataclass(frozen=True)
class Failure:
    status: int
    title: str
    detail: str
    reasons: list[str] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)


def _location(loc: Any) -> str:
    parts = [str(p) for p in (loc or ()) if p != "body"]
    return ".".join(parts) or "form"


def explain(error: Exception) -> Failure:
    if isinstance(error, ValidationError):
        fields = [(_location(e["loc"]), e["msg"]) for e in error.errors(include_input=False)]
        return Failure(
            422, "Some fields need fixing", f"{len(fields)} field(s) need fixing.", [], fields
        )
    if isinstance(error, ContractError):
        error = problem_for(error)
    if not isinstance(error, AccordError):
        raise error
    reasons = [str(v.get("message", v)) for v in error.extra.get("violations", [])]
    fields = [
        (str(e.get("location", "form")).removeprefix("body."), str(e.get("message", "")))
        for e in error.extra.get("errors", [])
        if isinstance(e, dict)
    ]
    return Failure(error.status, error.title, error.detail, reasons, fields)
