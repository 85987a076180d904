"""The audit chain's verification: any single edit, deletion, reordering or insertion is
detected and located at the right event; checkpoints anchor the chain."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.audit_chain import (
    GENESIS_HASH,
    ChainEvent,
    ChainHead,
    Checkpoint,
    Problem,
    SignedCheckpoint,
    event_hash,
    sign_checkpoint,
    verify_chain,
)
from contracts.envelope import sign_json
from contracts.keys import KeyKind, PrivateKey, WrongKeyUse, generate_key

AGENCY = "unhcr"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


@cache
def agency_key() -> PrivateKey:
    return generate_key(KeyKind.ED25519, nbf=T0 - YEAR, exp=T0 + YEAR)


@cache
def stranger_key() -> PrivateKey:
    return generate_key(KeyKind.ED25519, nbf=T0 - YEAR, exp=T0 + YEAR)


def content(n: int) -> dict[str, Any]:
    return {"id": f"event-{n}", "action": "case.read", "categories": ["identity"], "n": n}


def forge(seq: int, prev_hash: str, body: dict[str, Any]) -> ChainEvent:
    """What someone who can write the table but not sign can make: a self-consistent event."""
    digest = event_hash(agency=AGENCY, seq=seq, prev_hash=prev_hash, content=body)
    return ChainEvent(seq=seq, prev_hash=prev_hash, hash=digest, content=body)


def chain(length: int) -> list[ChainEvent]:
    events, prev = [], GENESIS_HASH
    for seq in range(1, length + 1):
        event = forge(seq, prev, content(seq))
        events.append(event)
        prev = event.hash
    return events


def head_of(events: list[ChainEvent]) -> ChainHead:
    return ChainHead(events[-1].seq, events[-1].hash)


def checkpoint_at(events: list[ChainEvent], seq: int, key: PrivateKey | None = None) -> dict:
    signed = sign_checkpoint(
        Checkpoint(agency=AGENCY, seq=seq, hash=events[seq - 1].hash, at=T0),
        key or agency_key(),
    )
    return signed.model_dump(mode="json")


def verify(events: list[ChainEvent], head: ChainHead | None, checkpoints: list[dict] | None = None):
    stored = sorted(events, key=lambda event: event.seq)  # storage order: by sequence number
    return verify_chain(
        AGENCY, stored, head=head, checkpoints=checkpoints or [], keys=[agency_key().public]
    )


def renumbered(events: list[ChainEvent], start: int, by: int) -> list[ChainEvent]:
    return [
        dataclasses.replace(event, seq=event.seq + by) if event.seq >= start else event
        for event in events
    ]


# --- intact chains ----------------------------------------------------------------------------


def test_an_intact_chain_verifies_with_its_checkpoints() -> None:
    events = chain(12)
    report = verify(events, head_of(events), [checkpoint_at(events, 5), checkpoint_at(events, 12)])
    assert report.ok, report.finding
    assert report.events == 12
    assert report.last == head_of(events)
    assert [c.seq for c in report.checkpoints] == [5, 12]
    assert report.latest_checkpoint is not None
    assert report.latest_checkpoint.seq == 12


def test_an_empty_chain_without_a_head_verifies() -> None:
    report = verify([], None)
    assert report.ok
    assert report.last is None


def test_a_checkpoint_signature_covers_agency_seq_hash_and_time() -> None:
    events = chain(3)
    document = checkpoint_at(events, 3)
    assert set(document) == {"agency", "seq", "hash", "at", "signature"}
    assert document["at"] == "2026-05-01T12:00:00Z"
    assert document["signature"]["alg"] == "EdDSA"
    assert document["signature"]["kid"] == agency_key().kid
    unsigned = {name: document[name] for name in ("agency", "seq", "hash", "at")}
    assert sign_json(unsigned, agency_key()) == SignedCheckpoint.model_validate(document).signature


def test_only_a_signing_key_signs_checkpoints() -> None:
    encryption = generate_key(KeyKind.X25519, nbf=T0 - YEAR, exp=T0 + YEAR)
    with pytest.raises(WrongKeyUse):
        sign_checkpoint(Checkpoint(agency=AGENCY, seq=1, hash="a" * 64, at=T0), encryption)


def test_a_checkpoint_signed_with_a_since_expired_key_still_verifies() -> None:
    old = generate_key(KeyKind.ED25519, nbf=T0 - 2 * YEAR, exp=T0 + timedelta(days=1))
    events = chain(4)
    report = verify_chain(
        AGENCY,
        events,
        head=head_of(events),
        checkpoints=[checkpoint_at(events, 4, old)],
        keys=[old.public, agency_key().public],
    )
    assert report.ok, report.finding


# --- single tampering, by example ---------------------------------------------------------------


def test_an_edited_event_is_named() -> None:
    events = chain(6)
    events[2] = dataclasses.replace(events[2], content=content(3) | {"action": "case.deleted"})
    finding = verify(events, head_of(chain(6))).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.EDITED, 3)


def test_an_event_rewritten_with_a_recomputed_hash_is_named() -> None:
    events = chain(6)
    events[2] = forge(3, events[1].hash, content(3) | {"action": "case.deleted"})
    finding = verify(events, head_of(events)).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.EDITED, 3)


def test_a_dropped_event_is_named() -> None:
    events = chain(6)
    del events[3]
    finding = verify(events, head_of(chain(6))).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.MISSING, 4)


def test_the_dropped_newest_event_is_named_from_the_head() -> None:
    events = chain(6)
    finding = verify(events[:-1], head_of(events)).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.MISSING, 6)


def test_swapped_events_are_named_out_of_order() -> None:
    events = chain(6)
    events[1] = dataclasses.replace(events[1], seq=5)
    events[4] = dataclasses.replace(events[4], seq=2)
    finding = verify(events, head_of(chain(6))).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.OUT_OF_ORDER, 2)


def test_a_forged_event_inserted_with_renumbering_is_named() -> None:
    events = chain(6)
    forged = forge(3, events[1].hash, {"id": "forged", "action": "case.read"})
    tampered = [*renumbered(events, 3, 1), forged]
    finding = verify(tampered, head_of(events)).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.INSERTED, 3)


def test_a_forged_event_appended_past_the_head_is_named() -> None:
    events = chain(6)
    forged = forge(7, events[-1].hash, {"id": "forged", "action": "case.read"})
    finding = verify([*events, forged], head_of(events)).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.INSERTED, 7)


def test_a_tail_cut_below_a_checkpoint_is_named_even_with_the_head_moved_back() -> None:
    events = chain(10)
    checkpoints = [checkpoint_at(events, 4), checkpoint_at(events, 8)]
    kept = events[:6]
    finding = verify(kept, head_of(kept), checkpoints).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.TRUNCATED, 7)


def test_a_rewritten_history_is_caught_by_the_checkpoint() -> None:
    events = chain(8)
    checkpoints = [checkpoint_at(events, 3), checkpoint_at(events, 8)]
    rewritten, prev = events[:4], events[3].hash
    for seq in range(5, 9):  # every event from 5 on recomputed: the links all hold
        rewritten.append(forge(seq, prev, content(seq) | {"action": "case.deleted"}))
        prev = rewritten[-1].hash
    finding = verify(rewritten, head_of(rewritten), checkpoints).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.CHECKPOINT_MISMATCH, 8)
    assert "after seq 3" in finding.detail


def test_a_forged_checkpoint_signature_is_named() -> None:
    events = chain(5)
    document = checkpoint_at(events, 4)
    document["signature"] = sign_json({"something": "else"}, agency_key()).model_dump()
    finding = verify(events, head_of(events), [checkpoint_at(events, 2), document]).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.CHECKPOINT_SIGNATURE_INVALID, 4)


def test_a_checkpoint_signed_by_another_key_is_not_trusted() -> None:
    events = chain(5)
    report = verify(events, head_of(events), [checkpoint_at(events, 5, stranger_key())])
    assert report.finding is not None
    assert report.finding.problem is Problem.CHECKPOINT_SIGNATURE_INVALID
    assert report.checkpoints == ()


def test_a_checkpoint_for_another_agency_is_not_trusted() -> None:
    events = chain(2)
    other = sign_checkpoint(
        Checkpoint(agency="iom", seq=2, hash=events[1].hash, at=T0), agency_key()
    )
    finding = verify(events, head_of(events), [other.model_dump(mode="json")]).finding
    assert finding is not None
    assert finding.problem is Problem.CHECKPOINT_SIGNATURE_INVALID
    assert "iom" in finding.detail


def test_a_malformed_checkpoint_is_reported_not_raised() -> None:
    events = chain(2)
    document = checkpoint_at(events, 2) | {"hash": "not hex"}
    finding = verify(events, head_of(events), [document]).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.CHECKPOINT_SIGNATURE_INVALID, 2)


def test_a_head_that_is_not_the_newest_event_is_named() -> None:
    events = chain(4)
    events[3] = forge(4, events[2].hash, content(4) | {"action": "case.deleted"})
    finding = verify(events, head_of(chain(4))).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.HEAD_MISMATCH, 4)


def test_events_without_a_head_are_reported() -> None:
    finding = verify(chain(3), None).finding
    assert finding is not None
    assert finding.problem is Problem.HEAD_MISMATCH


def test_content_no_canonical_form_can_hold_is_an_edit_not_a_crash() -> None:
    events = chain(3)
    events[1] = dataclasses.replace(events[1], content=content(2) | {"n": 2**60})
    finding = verify(events, head_of(chain(3))).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.EDITED, 2)


def test_the_lowest_problem_wins_between_a_checkpoint_and_an_event() -> None:
    events = chain(6)
    bad = checkpoint_at(events, 5) | {"seq": 6}
    events[1] = dataclasses.replace(events[1], content={"id": "changed"})
    finding = verify(events, head_of(chain(6)), [bad]).finding
    assert finding is not None
    assert (finding.problem, finding.seq) == (Problem.EDITED, 2)


# --- single tampering, at random ------------------------------------------------------------

MUTATIONS = [
    "edit_content",
    "edit_hash",
    "edit_prev_hash",
    "rewrite",
    "delete",
    "delete_renumber",
    "swap",
    "insert",
    "insert_garbage",
    "append",
]


@st.composite
def tampered_chains(draw: st.DrawFn) -> tuple[list[ChainEvent], ChainHead, list[dict], str, int]:
    length = draw(st.integers(min_value=2, max_value=18))
    events = chain(length)
    head = head_of(events)
    marks = draw(st.sets(st.integers(min_value=1, max_value=length), max_size=4))
    checkpoints = [checkpoint_at(events, seq) for seq in sorted(marks)]
    mutation = draw(st.sampled_from(MUTATIONS))
    k = draw(st.integers(min_value=1, max_value=length))
    i = k - 1
    if mutation == "edit_content":
        events[i] = dataclasses.replace(events[i], content=content(k) | {"action": "x"})
    elif mutation == "edit_hash":
        events[i] = dataclasses.replace(
            events[i], hash=draw(st.text("0123456789abcdef", min_size=64, max_size=64))
        )
    elif mutation == "edit_prev_hash":
        events[i] = dataclasses.replace(events[i], prev_hash="f" * 64)
    elif mutation == "rewrite":
        events[i] = forge(k, events[i].prev_hash, content(k) | {"action": "x"})
    elif mutation == "delete":
        del events[i]
    elif mutation == "delete_renumber":
        del events[i]
        events = renumbered(events, k + 1, -1)
    elif mutation == "swap":
        k, other = sorted(draw(st.sets(st.integers(1, length), min_size=2, max_size=2)))
        events[k - 1] = dataclasses.replace(events[k - 1], seq=other)
        events[other - 1] = dataclasses.replace(events[other - 1], seq=k)
    elif mutation == "insert":
        prev = events[i - 1].hash if i else GENESIS_HASH
        events = [*renumbered(events, k, 1), forge(k, prev, {"id": "forged"})]
    elif mutation == "insert_garbage":
        garbage = ChainEvent(seq=k, prev_hash="e" * 64, hash="d" * 64, content={"id": "forged"})
        events = [*renumbered(events, k, 1), garbage]
    elif mutation == "append":
        k = length + 1
        events.append(forge(k, events[-1].hash, {"id": "forged"}))
    return events, head, checkpoints, mutation, k


EXPECTED = {
    "edit_content": {Problem.EDITED},
    "edit_hash": {Problem.EDITED},
    "edit_prev_hash": {Problem.EDITED},
    # A rewrite keeps every link up to the event; the next link, the checkpoint or the head
    # is what no longer matches it.
    "rewrite": {Problem.EDITED, Problem.CHECKPOINT_MISMATCH, Problem.HEAD_MISMATCH},
    # The newest event gone: the head or the checkpoint over it says so.
    "delete": {Problem.MISSING, Problem.TRUNCATED},
    "delete_renumber": {Problem.MISSING, Problem.TRUNCATED},
    "swap": {Problem.OUT_OF_ORDER},
    "insert": {Problem.INSERTED},
    "insert_garbage": {Problem.INSERTED},
    "append": {Problem.INSERTED},
}


@settings(max_examples=200, deadline=None)
@given(tampered_chains())
def test_any_single_tampering_is_detected_at_the_right_event(case) -> None:
    events, head, checkpoints, mutation, k = case
    finding = verify(events, head, checkpoints).finding
    assert finding is not None, f"{mutation} at {k} went unnoticed"
    assert finding.seq == k, f"{mutation} at {k} located at {finding}"
    assert finding.problem in EXPECTED[mutation], f"{mutation} at {k}: {finding}"


@settings(max_examples=100, deadline=None)
@given(
    length=st.integers(min_value=1, max_value=20),
    marks=st.sets(st.integers(min_value=1, max_value=20), max_size=5),
)
def test_any_untouched_chain_verifies(length: int, marks: set[int]) -> None:
    events = chain(length)
    checkpoints = [checkpoint_at(events, seq) for seq in sorted(marks) if seq <= length]
    report = verify(events, head_of(events), checkpoints)
    assert report.ok, report.finding
    assert len(report.checkpoints) == len(checkpoints)
