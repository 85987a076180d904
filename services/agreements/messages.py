"""Receiving ``agreement.*`` messages: each party's node applies the same transitions to its
own copy, so every node holds the same text, signatures and status (DESIGN §5).

A message is applied only if it comes from the party it speaks for: a node relays its own
agencies' signatures and decisions, never another's. Signatures are verified against the
signer's key in the directory before they count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import agreements as rules
from contracts.agreements import (
    AgreementRef,
    AgreementState,
    AgreementStatus,
    AgreementTerms,
    Signature,
)
from contracts.directory import DirectoryError
from contracts.envelope import EnvelopeError, SignatureBlock, verify_json
from contracts.faults import ContractError, InvalidTransition
from contracts.keys import KeyProblem
from services.audit import service as audit
from services.federation.errors import FederationRefusal
from services.federation.inbox import Handler, Received

from . import repository, service

_B = TypeVar("_B", bound=BaseModel)


class AgreementMessageRefused(FederationRefusal):
    status = 422
    slug = "agreement-message-refused"
    title = "Agreement message refused"
    explanation = (
        "The agreement message does not apply here: from a non-party, a signature that does "
        "not verify or covers other text, or a change the agreement's state does not allow."
    )


class AgreementNotYetKnown(FederationRefusal):
    status = 409
    slug = "agreement-not-yet-known"
    title = "Agreement not yet known here"
    explanation = "A change arrived before the proposal it refers to; the sender retries."
    retryable = True


class _Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    version: int
    terms: AgreementTerms
    supersedes: AgreementRef | None = None


class _ProposalBody(BaseModel):
    agreement: _Snapshot
    at: datetime


class _SignedBody(_ProposalBody):
    signature: Signature
    digest: str


class _ChangeBody(BaseModel):
    id: str
    version: int
    by: str
    reason: str | None = None
    at: datetime


def _body(model: type[_B], received: Received) -> _B:
    try:
        return model.model_validate(received.envelope.body)
    except ValidationError as exc:
        raise AgreementMessageRefused(f"The message body does not hold: {exc}") from exc


def _proposal(received: Received) -> AgreementState:
    """The proposed agreement the message carries, as a fresh proposed state."""
    body = _body(_ProposalBody, received)
    sender = received.envelope.header.from_
    raw = body.agreement
    try:
        draft = rules.new_draft(
            raw.id, raw.terms, by=sender, at=body.at, version=raw.version, supersedes=raw.supersedes
        )
        return rules.propose(draft, by=sender, at=body.at)
    except ContractError as exc:
        raise AgreementMessageRefused(f"The proposal does not hold: {exc}") from exc


async def _materialize(session: AsyncSession, received: Received) -> AgreementState:
    """This node's copy of the proposal, created or replaced if the message's text is newer."""
    incoming = _proposal(received)
    row = await repository.get_row(session, incoming.id, incoming.version, lock=True)
    if row is None:
        await repository.save(session, incoming)
        return incoming
    held = repository.to_state(row)
    if held.digest == incoming.digest:
        return held
    if held.status in (AgreementStatus.DRAFT, AgreementStatus.PROPOSED):
        # Revised and proposed again: signatures on the old text no longer count.
        await repository.save(session, incoming)
        return incoming
    raise AgreementMessageRefused(
        f"Agreement {held.ref} is {held.status.value} here with other text; a proposal cannot "
        "replace it."
    )


async def _note(
    session: AsyncSession, received: Received, state: AgreementState, action: str
) -> None:
    for party in sorted(set(state.terms.parties)):
        if await received.federation.hosts(party):
            await audit.record(
                session,
                agency=party,
                principal=None,
                action=f"agreement.{action}",
                subject_type="agreement",
                subject_id=f"{state.id}@{state.version}",
                detail={"status": state.status.value, "by": received.envelope.header.from_},
            )


async def on_proposed(session: AsyncSession, received: Received) -> None:
    state = await _materialize(session, received)
    if received.envelope.header.from_ not in state.terms.parties:
        raise AgreementMessageRefused("Only a party may propose an agreement to the others.")
    await _note(session, received, state, "proposal_received")


async def on_signed(session: AsyncSession, received: Received) -> None:
    body = _body(_SignedBody, received)
    state = await _materialize(session, received)
    signature = body.signature
    if signature.agency != received.envelope.header.from_:
        raise AgreementMessageRefused("A node may relay only its own agencies' signatures.")
    directory = received.federation.directory.require()
    try:
        key = directory.member_key(signature.agency, signature.kid, at=body.at, use="sig")
        verify_json(
            state.canonical(), SignatureBlock(kid=signature.kid, value=signature.value), key
        )
    except (DirectoryError, KeyProblem, EnvelopeError) as exc:
        raise AgreementMessageRefused(
            f"The signature of {signature.agency} does not verify."
        ) from exc
    if any(s.signature == signature and s.digest == body.digest for s in state.signatures):
        return
    try:
        state = rules.sign(state, signature, digest=body.digest, at=body.at)
    except ContractError as exc:
        raise AgreementMessageRefused(str(exc)) from exc
    await repository.save(session, state)
    await _note(session, received, state, "signature_received")
    await service.after_change(session, state)


async def _on_change(session: AsyncSession, received: Received, action: str) -> None:
    body = _body(_ChangeBody, received)
    if body.by != received.envelope.header.from_:
        raise AgreementMessageRefused("A node may relay only its own agencies' decisions.")
    row = await repository.get_row(session, body.id, body.version, lock=True)
    if row is None:
        raise AgreementNotYetKnown("The agreement has not reached this node yet.")
    state = repository.to_state(row)
    transition, _ = service.TRANSITIONS[action]
    kwargs: dict[str, Any] = {"by": body.by, "at": body.at}
    if action != "resume":
        kwargs["reason"] = body.reason or ""
    try:
        state = transition(state, **kwargs)
    except InvalidTransition as exc:
        if state.status == AgreementStatus.TERMINATED:
            return  # already ended here; nothing left to change
        raise AgreementMessageRefused(str(exc)) from exc
    except ContractError as exc:
        raise AgreementMessageRefused(str(exc)) from exc
    await repository.save(session, state)
    await _note(session, received, state, action)


async def on_suspended(session: AsyncSession, received: Received) -> None:
    await _on_change(session, received, "suspend")


async def on_resumed(session: AsyncSession, received: Received) -> None:
    await _on_change(session, received, "resume")


async def on_terminated(session: AsyncSession, received: Received) -> None:
    await _on_change(session, received, "terminate")


HANDLERS: dict[str, Handler] = {
    service.PROPOSED: on_proposed,
    service.SIGNED: on_signed,
    service.SUSPENDED: on_suspended,
    service.RESUMED: on_resumed,
    service.TERMINATED: on_terminated,
}
