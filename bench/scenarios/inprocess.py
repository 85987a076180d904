"""In one process, on one core: the SOP engine's ``advance`` (guards in CEL) and the envelope
of a referral (seal+sign at the sender, verify+open at the recipient)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bench.config import BenchSettings
from bench.load import Summary
from bench.report import Results, Scenario
from contracts.envelope import (
    EnvelopeHeader,
    encryption_kids,
    new_message_id,
    open_categories,
    seal_and_sign,
    verify,
)
from contracts.keys import KeyKind, generate_key
from sop import engine
from sop.loader import shipped_definition
from tests.support.referrals import case_with_everything

#: An adult with no specific needs (``tests/sop/conftest.py``'s ADULT): leaving profiling
#: with ``profiled`` evaluates the CEL guard of every pathway before counselling applies.
ADULT: dict[str, Any] = {
    "is_child": False,
    "unaccompanied": False,
    "separated": False,
    "trafficking_victim": False,
    "stateless": False,
    "serious_illness": False,
    "years_in_host_country": 2.5,
    "proof_of_work": False,
    "social_contributions": False,
    "clean_criminal_record": True,
    "age": 34,
    "nationality": "SRB",
    "host_language": "basic",
    "children_in_school": False,
    "regional_free_movement": None,
    "skills_match": False,
    "needs_escort": False,
    "nationality_in_doubt": False,
}


def rates(work: Callable[[], object], seconds: float, runs: int) -> list[float]:
    found = []
    for _ in range(runs):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(20):
                work()
            done += 20
        found.append(done / elapsed)
    return found


def sop_advance() -> Callable[[], object]:
    definition = shipped_definition("avrr-joint")
    now = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    state = engine.start(definition, ADULT, {}, now)
    assert state.stage == "profiling"
    return partial(
        engine.advance,
        definition,
        state,
        "profiling",
        "profiled",
        ADULT,
        {},
        now + timedelta(days=1),
    )


def envelope() -> tuple[Callable[[], object], Callable[[], object]]:
    """A referral's three categories (identity, contact, specific needs) for one recipient."""
    now = datetime.now(UTC)
    life = {"nbf": now - timedelta(days=1), "exp": now + timedelta(days=1)}
    sender = generate_key(KeyKind.ED25519, **life)
    recipient = generate_key(KeyKind.X25519, **life)
    data = case_with_everything()["data"]
    categories = {name: data[name] for name in ("identity", "contact", "specific_needs")}
    header = EnvelopeHeader.model_validate(
        {
            "id": new_message_id(),
            "type": "referral.sent",
            "from": "unhcr",
            "to": "iom",
            "sent_at": now,
            "expires_at": now + timedelta(hours=1),
            "kids": {
                "sig": sender.kid,
                "enc": encryption_kids(list(categories), [recipient.public], at=now),
            },
        }
    )
    body = {"referral_id": "r", "purpose": "avrr-counselling"}
    sealed = seal_and_sign(header, body, categories, [recipient.public], sender)
    keys = {recipient.kid: recipient}

    def receive() -> object:
        verify(sealed, sender.public)
        return open_categories(sealed, keys)

    return partial(seal_and_sign, header, body, categories, [recipient.public], sender), receive


def run(settings: BenchSettings, results: Results) -> None:
    seal, receive = envelope()
    for name, work, note in (
        (
            "SOP advance (in process)",
            sop_advance(),
            "avrr-joint, profiling → profiled, its outcomes chosen by CEL guards",
        ),
        ("envelope seal+sign (in process)", seal, "3 categories, X25519 HPKE, Ed25519"),
        ("envelope verify+open (in process)", receive, "the same message at the recipient"),
    ):
        found = rates(work, settings.inprocess_seconds, settings.runs)
        results.scenarios.append(
            Scenario(name=name, backend="none", rps=Summary.of(found), runs=len(found), note=note)
        )
