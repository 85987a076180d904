"""The audit log's hash chain: each event commits to the one before it (DESIGN §8).

An event's hash is SHA-256 over the RFC 8785 form of its content together with the previous
event's hash and its own sequence number. Editing an event changes its hash, which no longer
matches what the next event committed to; deleting, reordering or inserting events breaks the
run of sequence numbers or the links. Signed checkpoints (an agency key over a sequence number
and hash) anchor the chain, so the log cannot be silently rewritten from some point on or cut
short at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contracts.canonical import canonical_digest

GENESIS_HASH = "0" * 64


def event_hash(*, agency: str, seq: int, prev_hash: str, content: Mapping[str, Any]) -> str:
    """Hex SHA-256 of ``{"agency", "seq", "prev", "event"}`` in RFC 8785 form."""
    return canonical_digest(
        {"agency": agency, "seq": seq, "prev": prev_hash, "event": dict(content)}
    )
