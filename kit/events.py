"""Domain events inside one node: what one package announces and another acts on, in the same
transaction (a completed referral advances the journey that drafted it)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

Listener = Callable[[AsyncSession, Any], Awaitable[None]]
#: What a package declares it listens to: event name to an async function of the session, the
#: payload and keyword-only context the app supplies (the federation).
Subscriptions = dict[str, Callable[..., Awaitable[None]]]


class Events:
    def __init__(self) -> None:
        self._listeners: defaultdict[str, list[Listener]] = defaultdict(list)

    def subscribe(self, name: str, listener: Listener) -> None:
        self._listeners[name].append(listener)

    async def emit(self, session: AsyncSession, name: str, payload: Any) -> None:
        for listener in self._listeners.get(name, ()):
            await listener(session, payload)
