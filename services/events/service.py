"""The event log (DESIGN §10): every state change of a referral, consent, erasure, agreement or
journey, appended by the code that makes the change, in its transaction.

Callers append after the change itself; :func:`append` only flushes, so the event commits or
rolls back with the change it records. The event's agency is the agency whose record changed
(on a node hosting several, each sees only its own). ``data`` is checked by
:class:`~services.events.schemas.EventData`: ids, statuses and codes only.

Consent expiry is not logged: it is not a stored change but follows from ``valid_until``
(``contracts.consent.effective_status``), so there is no moment at which to append it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db.base import new_id, utcnow

from . import repository
from .models import Event
from .schemas import EventData, EventType
from .types import KNOWN

_TYPE: TypeAdapter[str] = TypeAdapter(EventType)


class UnknownEventType(ValueError):
    """A type missing from ``services.events.types``: a bug in the caller, as a subscriber
    could never have asked for it and the OpenAPI document would not describe it."""


async def append(
    session: AsyncSession, *, agency: str, type: str, data: Mapping[str, Any]
) -> Event:
    """Append one event for ``agency``; ``None`` values in ``data`` are left out.

    Raises ``pydantic.ValidationError`` for a malformed type or any ``data`` beyond ids,
    statuses and codes: a bug in the caller, which must fail rather than log personal data;
    :class:`UnknownEventType` for a type ``services.events.types`` does not list.
    """
    if type not in KNOWN:
        _TYPE.validate_python(type)
        raise UnknownEventType(f"{type!r} is not in services.events.types.EVENT_TYPES")
    checked = EventData.model_validate(
        {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in data.items() if v is not None}
    )
    event = Event(
        id=new_id(),
        agency=agency,
        type=_TYPE.validate_python(type),
        timestamp=utcnow(),
        data=checked.model_dump(mode="json", exclude_none=True),
    )
    return await repository.add(session, event)
