"""The audit log's hash chain: each event commits to the one before it (DESIGN §8).

An event's hash is SHA-256 over the RFC 8785 form of its content together with the previous
event's hash and its own sequence number. Editing an event changes its hash, which no longer
matches what the next event committed to; deleting, reordering or inserting events breaks the
run of sequence numbers or the links. Signed checkpoints (an agency key over a sequence number
and hash) anchor the chain, so the log cannot be silently rewritten from some point on or cut
short at the end.

A checkpoint is the JSON object ``{"agency", "seq", "hash", "at"}`` signed with the agency's
Ed25519 key (:func:`contracts.envelope.sign_json`, so ``signature`` is ``{"kid", "alg":
"EdDSA", "value"}`` over its RFC 8785 form). Anyone holding the agency's published keys can
check it, and an auditor can keep one outside the node to hold the node to it later.

:func:`verify_chain` checks a chain as it is stored and, when it does not verify, names the
*first* event that is wrong and how, so an auditor knows where to look:

- ``edited``: the event no longer hashes to its recorded hash, or (when its hash was rewritten
  too) it is not the event its successor was chained to;
- ``broken_link``: the event hashes correctly but is not chained to the event before it;
- ``missing``: no event carries this sequence number (dropped), or events were dropped and the
  later ones renumbered;
- ``out_of_order``: an authentic event is stored under another event's sequence number;
- ``inserted``: an event that was never appended to the chain sits at this sequence number;
- ``head_mismatch``: the newest event is not the head the node recorded;
- ``checkpoint_signature_invalid``: a checkpoint is malformed, or its signature does not verify
  with a key the agency held when it was signed;
- ``checkpoint_mismatch``: the chain disagrees with a signed checkpoint: rewritten up to there;
- ``truncated``: the chain ends below a signed checkpoint: its tail was cut off.

What a chain cannot show alone: an attacker who can write the database may append forged events
at the end and move the head along, or cut the tail and delete the newer checkpoints with it.
Only a checkpoint kept elsewhere (by an auditor, or another node) catches that; pass it in
``checkpoints``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from contracts.agencies import AgencySlug
from contracts.canonical import canonical_digest
from contracts.envelope import (
    BadSignature,
    SignatureBlock,
    SignerMismatch,
    Timestamp,
    sign_json,
    verify_json,
)
from contracts.keys import KeyKind, KeyProblem, PrivateKey, PublicKey, WrongKeyUse, usable_key

__all__ = [
    "GENESIS_HASH",
    "ChainEvent",
    "ChainHead",
    "ChainReport",
    "Checkpoint",
    "Finding",
    "Problem",
    "SignedCheckpoint",
    "event_hash",
    "sign_checkpoint",
    "verify_chain",
]

GENESIS_HASH: Final = "0" * 64
#: How far past its stored sequence number an event is looked for when its predecessor is gone,
#: to tell "events dropped and the rest renumbered" from an edit. Only a diagnosis: the chain
#: fails either way, and this runs once, at the first bad event.
_RENUMBER_SEARCH: Final = 64

Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def event_hash(*, agency: str, seq: int, prev_hash: str, content: Mapping[str, Any]) -> str:
    """Hex SHA-256 of ``{"agency", "seq", "prev", "event"}`` in RFC 8785 form."""
    return canonical_digest(
        {"agency": agency, "seq": seq, "prev": prev_hash, "event": dict(content)}
    )


# --- checkpoints ----------------------------------------------------------------------------


class Checkpoint(BaseModel):
    """The agency's statement that its chain's event ``seq`` had hash ``hash`` at ``at``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agency: AgencySlug
    seq: int = Field(ge=1)
    hash: Hash
    at: Timestamp

    def content(self) -> dict[str, Any]:
        """``{"agency", "seq", "hash", "at"}`` as JSON: what the signature covers."""
        return self.model_dump(mode="json", include={"agency", "seq", "hash", "at"})


class SignedCheckpoint(Checkpoint):
    """A checkpoint with the agency's Ed25519 signature over :meth:`Checkpoint.content`."""

    signature: SignatureBlock


def sign_checkpoint(checkpoint: Checkpoint, key: PrivateKey) -> SignedCheckpoint:
    """Sign ``checkpoint`` with the agency's Ed25519 ``key``, which must be valid at its ``at``.

    Raises ``KeyProblem`` (``WrongKeyUse``, ``KeyExpired``, ``KeyNotYetValid``) otherwise: a
    verifier would refuse the signature anyway.
    """
    if key.kind is not KeyKind.ED25519:
        raise WrongKeyUse(f"key {key.kid} is a {key.kind} key, not a signing key")
    key.check_usable_at(checkpoint.at)
    content = checkpoint.content()
    return SignedCheckpoint.model_validate(content | {"signature": sign_json(content, key)})


class _Refused(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq


def _trusted(
    document: SignedCheckpoint | Mapping[str, Any], agency: str, keys: Sequence[PublicKey]
) -> SignedCheckpoint:
    if isinstance(document, SignedCheckpoint):
        checkpoint = document
    else:
        try:
            checkpoint = SignedCheckpoint.model_validate(document)
        except ValidationError as exc:
            claimed = document.get("seq") if isinstance(document, Mapping) else None
            seq = claimed if isinstance(claimed, int) else 0
            raise _Refused(
                seq, f"checkpoint {seq} is malformed ({exc.error_count()} invalid members)"
            ) from exc
    seq, kid = checkpoint.seq, checkpoint.signature.kid
    if checkpoint.agency != agency:
        raise _Refused(seq, f"checkpoint {seq} is signed for {checkpoint.agency}, not {agency}")
    try:
        key = usable_key(keys, kid, at=checkpoint.at, kind=KeyKind.ED25519)
    except KeyProblem as exc:
        raise _Refused(
            seq, f"checkpoint {seq} is signed with a key {agency} did not hold then: {exc}"
        ) from exc
    try:
        verify_json(checkpoint.content(), checkpoint.signature, key)
    except (BadSignature, SignerMismatch) as exc:
        raise _Refused(
            seq, f"the signature on checkpoint {seq} does not verify with key {kid}"
        ) from exc
    return checkpoint


# --- verification ---------------------------------------------------------------------------


class Problem(enum.StrEnum):
    """What is wrong with the first bad event (see the module docstring)."""

    EDITED = "edited"
    BROKEN_LINK = "broken_link"
    MISSING = "missing"
    OUT_OF_ORDER = "out_of_order"
    INSERTED = "inserted"
    HEAD_MISMATCH = "head_mismatch"
    CHECKPOINT_SIGNATURE_INVALID = "checkpoint_signature_invalid"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class ChainEvent:
    """One stored event as plain values: its chain columns and the content its hash covers."""

    seq: int
    prev_hash: str
    hash: str
    content: Mapping[str, Any]


@dataclass(frozen=True)
class ChainHead:
    """The newest event's sequence number and hash, as the node recorded them."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Finding:
    """The first bad event: its sequence number, what is wrong, and in words an auditor reads."""

    problem: Problem
    seq: int
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`."""

    agency: str
    #: How many events were stored (and examined, up to the first bad one).
    events: int
    #: The newest stored event, whatever the verdict.
    last: ChainHead | None
    #: The checkpoints whose signatures verified, by sequence number.
    checkpoints: tuple[SignedCheckpoint, ...]
    finding: Finding | None

    @property
    def ok(self) -> bool:
        return self.finding is None

    @property
    def latest_checkpoint(self) -> SignedCheckpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


def verify_chain(
    agency: str,
    events: Sequence[ChainEvent],
    *,
    head: ChainHead | None,
    checkpoints: Iterable[SignedCheckpoint | Mapping[str, Any]] = (),
    keys: Iterable[PublicKey] = (),
) -> ChainReport:
    """Verify ``agency``'s chain: ``events`` in storage order (by sequence number), the ``head``
    the node recorded (``None`` if it has none), its signed ``checkpoints`` and the agency's
    public ``keys`` (every Ed25519 key it ever signed with, expired ones included).

    Returns a report that is ``ok`` or names the first bad event. A checkpoint whose signature
    does not verify is reported and otherwise ignored; among several problems, the one with the
    lowest sequence number is reported.
    """
    key_list = tuple(keys)
    trusted: list[SignedCheckpoint] = []
    refused: Finding | None = None
    for document in checkpoints:
        try:
            trusted.append(_trusted(document, agency, key_list))
        except _Refused as exc:
            if refused is None or exc.seq < refused.seq:
                refused = Finding(Problem.CHECKPOINT_SIGNATURE_INVALID, exc.seq, str(exc))
    trusted.sort(key=lambda checkpoint: (checkpoint.seq, checkpoint.at))
    finding = _Walk(agency, events, head, trusted).run()
    if refused is not None and (finding is None or refused.seq < finding.seq):
        finding = refused
    last = ChainHead(events[-1].seq, events[-1].hash) if events else None
    return ChainReport(
        agency=agency,
        events=len(events),
        last=last,
        checkpoints=tuple(trusted),
        finding=finding,
    )


class _Walk:
    """One pass over the stored events in order; on the first failed check, a diagnosis that
    uses the rest of the chain (hashes commit to sequence numbers and predecessors, so an
    authentic event can be recognised wherever it was moved)."""

    def __init__(
        self,
        agency: str,
        events: Sequence[ChainEvent],
        head: ChainHead | None,
        checkpoints: list[SignedCheckpoint],
    ) -> None:
        self.agency = agency
        self.events = events
        self.head = head
        self.checkpoints: dict[int, list[SignedCheckpoint]] = {}
        for checkpoint in checkpoints:
            self.checkpoints.setdefault(checkpoint.seq, []).append(checkpoint)
        self.by_hash: dict[str, int] = {}
        for index, event in enumerate(events):
            self.by_hash.setdefault(event.hash, index)
        self.matched: SignedCheckpoint | None = None

    def _hash_as(self, seq: int, event: ChainEvent) -> str | None:
        try:
            return event_hash(
                agency=self.agency, seq=seq, prev_hash=event.prev_hash, content=event.content
            )
        except (ValueError, TypeError):
            # Content RFC 8785 cannot represent (NaN, huge integers) was never hashed by us.
            return None

    def _next(self, index: int) -> ChainEvent | None:
        return self.events[index + 1] if index + 1 < len(self.events) else None

    def run(self) -> Finding | None:
        prev_hash, expected = GENESIS_HASH, 1
        for index, event in enumerate(self.events):
            if event.seq < expected:
                return Finding(
                    Problem.OUT_OF_ORDER,
                    event.seq,
                    f"event {event.seq} is stored after event {expected - 1}",
                )
            if event.seq > expected:
                return Finding(
                    Problem.MISSING,
                    expected,
                    f"no event is stored at {_seqs(expected, event.seq - 1)}: dropped",
                )
            # An event past the head was not appended by the node, unless it is an authentic
            # event pushed there by a renumbering, which _unhashed names better.
            beyond = self.head is not None and event.seq > self.head.seq
            if self._hash_as(event.seq, event) != event.hash:
                return self._unhashed(index, prev_hash, beyond=beyond)
            if beyond:
                return self._beyond_head(event.seq)
            if event.prev_hash != prev_hash:
                return self._unlinked(index, prev_hash)
            for checkpoint in self.checkpoints.get(event.seq, ()):
                if checkpoint.hash != event.hash:
                    return self._disowned(checkpoint)
                self.matched = checkpoint
            prev_hash, expected = event.hash, expected + 1
        return self._end()

    def _beyond_head(self, seq: int) -> Finding:
        head = self.head.seq if self.head is not None else 0
        return Finding(
            Problem.INSERTED,
            seq,
            f"event {seq} lies beyond the recorded head (seq {head}): it was added to the "
            "table, not appended to the chain",
        )

    def _unhashed(self, index: int, prev_hash: str, *, beyond: bool) -> Finding:
        """The event does not hash to its stored hash under its stored sequence number."""
        event = self.events[index]
        seq = event.seq
        authentic = self._authentic_seq(index)
        if authentic is not None and authentic > seq:
            return Finding(
                Problem.OUT_OF_ORDER,
                seq,
                f"the event stored as seq {seq} was recorded as seq {authentic}: "
                "events were reordered",
            )
        if authentic is not None and authentic < seq:
            return Finding(
                Problem.INSERTED,
                authentic,
                f"the event stored as seq {seq} was recorded as seq {authentic}: "
                f"an event was inserted at seq {authentic} and the rest renumbered",
            )
        if beyond:
            return self._beyond_head(seq)
        following = self._next(index)
        if following is not None and following.prev_hash == prev_hash:
            return _inserted(seq)
        if event.prev_hash != prev_hash and event.prev_hash not in self.by_hash:
            for recorded in range(seq + 1, seq + 1 + _RENUMBER_SEARCH):
                if self._hash_as(recorded, event) == event.hash:
                    return Finding(
                        Problem.MISSING,
                        seq,
                        f"the event stored as seq {seq} was recorded as seq {recorded}: the "
                        f"events at {_seqs(seq, recorded - 1)} were dropped and the rest "
                        "renumbered",
                    )
        return Finding(
            Problem.EDITED,
            seq,
            f"event {seq} no longer hashes to its recorded hash: "
            "its content or chain fields were changed",
        )

    def _unlinked(self, index: int, prev_hash: str) -> Finding:
        """The event hashes correctly but is not chained to the event stored before it."""
        event = self.events[index]
        following = self._next(index)
        if following is not None and following.prev_hash == prev_hash:
            return _inserted(event.seq)
        if following is not None:
            vouched = following.prev_hash == event.hash
        else:
            vouched = self.head is not None and self.head == ChainHead(event.seq, event.hash)
        if vouched and index > 0:
            before = self.events[index - 1].seq
            return Finding(
                Problem.EDITED,
                before,
                f"event {before} is not the event {event.seq} was chained to: "
                "it was changed and its hash recomputed, or replaced",
            )
        return Finding(
            Problem.BROKEN_LINK,
            event.seq,
            f"event {event.seq} is not chained to the event before it: "
            "its link was rewritten along with its hash",
        )

    def _disowned(self, checkpoint: SignedCheckpoint) -> Finding:
        """The stored event at a signed checkpoint's sequence number is not the signed one."""
        seq = checkpoint.seq
        moved = self.by_hash.get(checkpoint.hash)
        if moved is not None and self.events[moved].seq > seq:
            return Finding(
                Problem.INSERTED,
                seq,
                f"the event checkpoint {seq} signed is stored as seq {self.events[moved].seq}: "
                f"an event was inserted at seq {seq} and the rest renumbered",
            )
        since = self.matched.seq if self.matched is not None else 0
        return Finding(
            Problem.CHECKPOINT_MISMATCH,
            seq,
            f"event {seq} is not the event checkpoint {seq} (signed at "
            f"{checkpoint.content()['at']} with key {checkpoint.signature.kid}) vouches for: "
            f"the chain was rewritten after seq {since}",
        )

    def _end(self) -> Finding | None:
        last = self.events[-1] if self.events else None
        last_seq = last.seq if last is not None else 0
        covered = max(self.checkpoints, default=0)
        if covered > last_seq:
            return Finding(
                Problem.TRUNCATED,
                last_seq + 1,
                f"the chain ends at seq {last_seq} but checkpoint {covered} is signed: "
                f"the events at {_seqs(last_seq + 1, covered)} were cut off",
            )
        if self.head is None:
            if last is None:
                return None
            return Finding(
                Problem.HEAD_MISMATCH,
                last_seq,
                f"the chain has {len(self.events)} events but the node records no head",
            )
        if self.head.seq > last_seq:
            return Finding(
                Problem.MISSING,
                last_seq + 1,
                f"the head is seq {self.head.seq} but the chain ends at seq {last_seq}: "
                f"the events at {_seqs(last_seq + 1, self.head.seq)} were dropped",
            )
        if last is not None and last.hash != self.head.hash:
            return Finding(
                Problem.HEAD_MISMATCH,
                last_seq,
                f"event {last_seq} is not the head the node recorded: "
                "it was changed and its hash recomputed, or replaced",
            )
        return None

    def _authentic_seq(self, index: int) -> int | None:
        """The sequence number the event at ``index`` was recorded with, if it is authentic.

        Follows ``prev_hash`` back to an event that hashes correctly where it is stored (or to
        the genesis), then re-hashes forward: each event must hash correctly one after its
        predecessor. ``None`` when the event hashes under no such number.
        """
        stack, seen = [index], {index}
        while True:
            event = self.events[stack[-1]]
            if self._hash_as(event.seq, event) == event.hash:
                base = event.seq
                stack.pop()
                break
            if event.prev_hash == GENESIS_HASH:
                base = 0
                break
            before = self.by_hash.get(event.prev_hash)
            if before is None or before in seen:
                return None
            stack.append(before)
            seen.add(before)
        for position in reversed(stack):
            base += 1
            if self._hash_as(base, self.events[position]) != self.events[position].hash:
                return None
        return base


def _inserted(seq: int) -> Finding:
    return Finding(
        Problem.INSERTED,
        seq,
        f"event {seq} was never part of the chain: the event after it is chained directly to "
        "the event before it",
    )


def _seqs(first: int, last: int) -> str:
    return f"seq {first}" if first == last else f"seqs {first}-{last}"
