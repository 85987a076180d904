"""Tampering with the audit tables directly in the database is caught by ``GET /v1/audit/verify``
and ``accord audit verify``, which both name the first bad event."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from contracts.audit_chain import Checkpoint, sign_checkpoint
from contracts.keys import KeyKind, generate_key
from kit.db.base import utcnow
from services.audit import service as audit
from services.audit.models import AuditCheckpoint, AuditEvent
from services.cli import cli
from services.keys.models import AgencyKey
from tests.support.app import TEST_MASTER_KEY

LENGTH, CHECKPOINTED = 10, 8


async def _trail(app: FastAPI) -> None:
    """Ten unhcr events with a signed checkpoint at 8, and one iom event."""
    async with app.state.db.sessions.begin() as session:
        for n in range(1, LENGTH + 1):
            await audit.record(
                session,
                agency="unhcr",
                principal=None,
                action="case.read",
                subject_type="case",
                subject_id=n,
                categories=["identity"],
            )
            if n == CHECKPOINTED:
                await audit.write_checkpoint(
                    session, master_key=app.state.master_key, agency="unhcr"
                )
        await audit.record(
            session,
            agency="iom",
            principal=None,
            action="case.read",
            subject_type="case",
            subject_id="x",
        )


async def _hash_of(session: AsyncSession, seq: int) -> str:
    return (
        await session.scalars(
            select(AuditEvent.hash).where(AuditEvent.agency == "unhcr", AuditEvent.seq == seq)
        )
    ).one()


def _forged(seq: int, prev_hash: str) -> AuditEvent:
    """An event that looks right: its hash computed the way record() does."""
    event = AuditEvent(
        id=uuid.uuid4(),
        agency="unhcr",
        seq=seq,
        at=utcnow().replace(microsecond=0),
        actor="node",
        action="case.erased",
        subject_type="case",
        subject_id="forged",
        case_id=None,
        referral_id=None,
        categories=[],
        purpose=None,
        detail={},
        break_glass=False,
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = audit.event_hash(
        agency="unhcr", seq=seq, prev_hash=prev_hash, content=audit.event_content(event)
    )
    return event


async def _sql(session: AsyncSession, statement: str, **params: object) -> None:
    await session.execute(text(statement), params)


# --- the tampering --------------------------------------------------------------------------


async def edit_an_action(session: AsyncSession) -> None:
    await _sql(
        session,
        "UPDATE audit_events SET action = 'case.created' WHERE seq = 3 AND agency = 'unhcr'",
    )


async def backdate_an_event(session: AsyncSession) -> None:
    await session.execute(
        update(AuditEvent)
        .where(AuditEvent.agency == "unhcr", AuditEvent.seq == 6)
        .values(at=utcnow() - timedelta(days=30))
    )


async def edit_and_rehash(session: AsyncSession) -> None:
    event = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.agency == "unhcr", AuditEvent.seq == 3)
        )
    ).one()
    event.categories = []
    event.hash = audit.event_hash(
        agency="unhcr", seq=3, prev_hash=event.prev_hash, content=audit.event_content(event)
    )
    await session.flush()


async def delete_one(session: AsyncSession) -> None:
    await _sql(session, "DELETE FROM audit_events WHERE seq = 4 AND agency = 'unhcr'")


async def swap_two(session: AsyncSession) -> None:
    # Through a free number: the (agency, seq) constraint is checked row by row.
    for old, new in ((5, -1), (7, 5), (-1, 7)):
        await _sql(
            session,
            "UPDATE audit_events SET seq = :new WHERE seq = :old AND agency = 'unhcr'",
            old=old,
            new=new,
        )


async def append_a_forged_event(session: AsyncSession) -> None:
    session.add(_forged(LENGTH + 1, await _hash_of(session, LENGTH)))
    await session.flush()


async def insert_a_forged_event_and_renumber(session: AsyncSession) -> None:
    prev = await _hash_of(session, 5)
    for seq in range(LENGTH, 5, -1):
        await _sql(
            session,
            "UPDATE audit_events SET seq = seq + 1 WHERE seq = :seq AND agency = 'unhcr'",
            seq=seq,
        )
    session.add(_forged(6, prev))
    await _sql(session, "UPDATE audit_heads SET seq = seq + 1 WHERE agency = 'unhcr'")
    await session.flush()


async def truncate_below_the_checkpoint(session: AsyncSession) -> None:
    kept = await _hash_of(session, 6)
    await _sql(session, "DELETE FROM audit_events WHERE seq > 6 AND agency = 'unhcr'")
    await _sql(
        session, "UPDATE audit_heads SET seq = 6, hash = :hash WHERE agency = 'unhcr'", hash=kept
    )


async def rewrite_history_from_five(session: AsyncSession) -> None:
    prev = await _hash_of(session, 4)
    await _sql(session, "DELETE FROM audit_events WHERE seq >= 5 AND agency = 'unhcr'")
    for seq in range(5, LENGTH + 1):
        forged = _forged(seq, prev)
        session.add(forged)
        prev = forged.hash
    await _sql(session, "UPDATE audit_heads SET hash = :hash WHERE agency = 'unhcr'", hash=prev)
    await session.flush()


async def forge_the_checkpoint(session: AsyncSession) -> None:
    # Point the checkpoint at another event, keeping its signature.
    await _sql(
        session,
        "UPDATE audit_checkpoints SET hash = :hash WHERE agency = 'unhcr'",
        hash=await _hash_of(session, 9),
    )


async def sign_with_a_planted_key(session: AsyncSession) -> None:
    # Someone with write access to the database but not the master key adds a key of their own
    # beside the agency's and signs a checkpoint with it.
    now = utcnow().replace(microsecond=0)
    planted = generate_key(
        KeyKind.ED25519, nbf=now - timedelta(days=1), exp=now + timedelta(days=1)
    )
    session.add(
        AgencyKey(
            kid=planted.kid,
            agency="unhcr",
            kind="ed25519",
            public_jwk=planted.public.to_jwk(),
            private_wrapped=b"\x00" * 60,
            not_before=planted.nbf,
            expires_at=planted.exp,
        )
    )
    signed = sign_checkpoint(
        Checkpoint(agency="unhcr", seq=9, hash=await _hash_of(session, 9), at=now), planted
    )
    session.add(
        AuditCheckpoint(
            agency="unhcr",
            seq=9,
            hash=signed.hash,
            at=signed.at,
            kid=signed.signature.kid,
            signature=signed.signature.value,
        )
    )
    await session.flush()


Tamper = Callable[[AsyncSession], Awaitable[None]]
SCENARIOS: list[tuple[Tamper, str, int]] = [
    (edit_an_action, "edited", 3),
    (backdate_an_event, "edited", 6),
    (edit_and_rehash, "edited", 3),
    (delete_one, "missing", 4),
    (swap_two, "out_of_order", 5),
    (append_a_forged_event, "inserted", LENGTH + 1),
    (insert_a_forged_event_and_renumber, "inserted", 6),
    (truncate_below_the_checkpoint, "truncated", 7),
    (rewrite_history_from_five, "checkpoint_mismatch", CHECKPOINTED),
    (forge_the_checkpoint, "checkpoint_signature_invalid", CHECKPOINTED),
    (sign_with_a_planted_key, "checkpoint_signature_invalid", 9),
]


# --- the checks ----------------------------------------------------------------------------


async def _verify_api(client: httpx.AsyncClient, headers: dict[str, str]) -> dict:
    response = await client.get("/v1/audit/verify", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _verify_cli(database_url: str, *args: str) -> tuple[int, str]:
    # In a thread: the command runs its own event loop, as it does from a shell.
    env = {"ACCORD_DATABASE_URL": database_url, "ACCORD_MASTER_KEY": TEST_MASTER_KEY}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "verify", *args], env=env)
    return result.exit_code, result.output


async def _counts(app: FastAPI) -> tuple[int, int]:
    async with app.state.db.sessions() as session:
        events = await session.scalar(select(func.count()).select_from(AuditEvent))
        checkpoints = await session.scalar(select(func.count()).select_from(AuditCheckpoint))
    return events or 0, checkpoints or 0


@pytest.mark.fresh_database  # `accord audit verify` reads it on a connection of its own
async def test_an_untouched_chain_verifies_and_verifying_writes_nothing(
    client, app, auditor, database_url
) -> None:
    await _trail(app)
    before = await _counts(app)
    result = await _verify_api(client, auditor)
    assert result["ok"] is True
    assert result["first_bad_event"] is None
    assert result["agency"] == "unhcr"
    assert result["events"] == LENGTH
    assert result["head"]["seq"] == LENGTH
    assert result["checkpoints"] == 1
    assert result["latest_checkpoint"]["seq"] == CHECKPOINTED
    assert result["latest_checkpoint"]["signature"]["alg"] == "EdDSA"
    code, output = await _verify_cli(database_url)
    assert code == 0, output
    assert "unhcr: ok: 10 events, 1 signed checkpoints" in output
    assert "iom: ok: 1 events" in output
    assert await _counts(app) == before


@pytest.mark.fresh_database  # `accord audit verify` reads it on a connection of its own
@pytest.mark.parametrize(
    ("tamper", "problem", "seq"), SCENARIOS, ids=[s[0].__name__ for s in SCENARIOS]
)
async def test_tampering_is_named_at_the_first_bad_event(
    client, app, auditor, database_url, tamper: Tamper, problem: str, seq: int
) -> None:
    await _trail(app)
    async with app.state.db.sessions.begin() as session:
        await tamper(session)
        stored = (
            await session.scalars(
                select(AuditEvent.id).where(AuditEvent.agency == "unhcr", AuditEvent.seq == seq)
            )
        ).first()

    result = await _verify_api(client, auditor)
    assert result["ok"] is False
    bad = result["first_bad_event"]
    assert (bad["problem"], bad["seq"]) == (problem, seq), bad["detail"]
    assert bad["event_id"] == (str(stored) if stored else None)

    code, output = await _verify_cli(database_url)
    assert code == 1, output
    assert f"unhcr: FAILED at seq {seq}" in output
    assert f": {problem}: " in output
    assert "iom: ok" in output, "the other agency's chain is verified on its own"
    code, output = await _verify_cli(database_url, "--agency", "iom")
    assert code == 0, output
    assert "unhcr" not in output


@pytest.mark.fresh_database  # `accord audit verify` reads it on a connection of its own
async def test_verify_refuses_an_agency_the_node_does_not_have(client, app, database_url) -> None:
    code, output = await _verify_cli(database_url, "--agency", "nobody")
    assert code == 1
    assert "nobody: not hosted on this node" in output


async def test_verify_without_a_master_key_says_it_cannot_verify(tmp_path) -> None:
    env = {
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "ACCORD_ENV": "prod",
        "ACCORD_MASTER_KEY": None,
        "ACCORD_MASTER_KEY_FILE": None,
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "verify"], env=env)
    assert result.exit_code == 1
    assert "cannot verify" in result.output


def test_accord_audit_verify_runs_from_the_shell(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ACCORD_DATABASE_URL": f"sqlite:///{tmp_path / 'node.db'}",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
        "PYTHONPATH": os.getcwd(),
    }

    def accord(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert accord("init", "--agency", "unhcr=UNHCR", "--json").returncode == 0
    verified = accord("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "unhcr: ok: 0 events" in verified.stdout


def test_audit_verify_names_the_database_it_reads_without_its_password() -> None:
    env = {
        # Nothing listens on port 1: the command names the database, then cannot reach it.
        "ACCORD_DATABASE_URL": "postgresql://auditor:s3cret-pw@127.0.0.1:1/accord_unhcr",
        "ACCORD_MASTER_KEY": TEST_MASTER_KEY,
    }
    result = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert result.exit_code == 1
    assert "database: postgresql://auditor:***@127.0.0.1:1/accord_unhcr" in result.output
    assert "s3cret-pw" not in result.output
