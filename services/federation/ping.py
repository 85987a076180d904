"""``federation.ping``: a message with no personal data, for checking a path between two
agencies end to end (keys, directory, delivery, receipt) before real referrals use it.

A probe ping also carries two sealed categories with fixed, non-personal content, one under
each HPKE suite (``monitoring`` under X25519, ``health`` under the ML-KEM hybrid), which the
recipient must open: it proves the sender sealed to keys only the recipient holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import envelope as env
from contracts.keys import KeyProblem

from .errors import ContentRefused
from .inbox import Received

PING = "federation.ping"
PROBE: dict[str, dict[str, Any]] = {
    "monitoring": {"findings": "Accord federation probe; no personal data."},
    "health": {},
}


class ProbeUnreadable(ContentRefused):
    slug = "probe-unreadable"
    title = "Sealed probe could not be opened"
    explanation = "A probe ping's sealed categories did not open with the recipient's keys."


async def handle_ping(session: AsyncSession, received: Received) -> None:
    """Storing the ping is its effect; a probe's sealed categories must also open here."""
    del session  # the handler signature every message type shares
    envelope = received.envelope
    if not envelope.sealed:
        return
    keys = await received.federation.keys.by_kid(envelope.header.to)
    try:
        opened = env.open_categories(envelope, keys)
    except (env.EnvelopeError, KeyProblem) as exc:
        raise ProbeUnreadable(str(exc)) from exc
    if opened != {name: PROBE[name] for name in opened}:
        raise ProbeUnreadable("the probe's content is not the fixed probe")
