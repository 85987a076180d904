"""What went wrong with an action, in the words the API's problem document uses.

The console shows the same detail, every policy reason and every bad field the API would
return, next to the form that caused them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.faults import ContractError
from kit.errors import AccordError
from kit.faults import problem_for
from kit.i18n import N_, ngettext

T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    status: int
    title: str
    detail: str
    reasons: list[str] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)

    def at(self, name: str) -> list[str]:
        """What is wrong with the form field ``name``: the messages whose location starts with
        it (``roles.0`` is the field ``roles``), for the page to show at that field."""
        return [msg for loc, msg in self.fields if loc.split(".", 1)[0] == name]


def _location(loc: Any) -> str:
    parts = [str(p) for p in (loc or ()) if p != "body"]
    return ".".join(parts) or "form"


def explain(error: Exception) -> Failure:
    if isinstance(error, ValidationError):
        fields = [(_location(e["loc"]), e["msg"]) for e in error.errors(include_input=False)]
        return Failure(
            422,
            N_("Some fields need fixing"),
            ngettext("%(num)d field needs fixing.", "%(num)d fields need fixing.", len(fields))
            % {"num": len(fields)},
            [],
            fields,
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


async def attempt(session: AsyncSession, run: Callable[[], Awaitable[T]]) -> T | Failure:
    """Run one state change; if it is refused, roll the whole transaction back (nothing is half
    written) and say why, for the page to show next to the form."""
    try:
        return await run()
    except (AccordError, ContractError, ValidationError) as error:
        await session.rollback()
        return explain(error)
