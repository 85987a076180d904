"""``federation.ping``: a message with no personal data, for checking a path between two
agencies end to end (keys, directory, delivery, receipt) before real referrals use it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from .inbox import Received

PING = "federation.ping"


async def handle_ping(session: AsyncSession, received: Received) -> None:
    """Storing the ping in the inbox is its whole effect; nothing else changes."""
    del session, received
