"""Receiving ``agreement.*`` messages: each party's node applies the same transitions to its
own copy, so every node holds the same text, signatures and status (DESIGN §5).

A message is applied only if it comes from a party of the version this node already holds (for
an agreement never seen, from its proposer, a party of what it proposes), and it never rewrites
a held version: other text under a held id and version is refused, with a signed refusal
receipt listing every reason (DESIGN §4). A node relays its own agencies' signatures and
decisions, never another's; signatures are verified against the signer's key in the directory
before they count.
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
from contracts.faults import ContractError, Fault, InvalidTransition
from contracts.keys import KeyProblem
from services.audit import service as audit
from services.federation.errors import ContentRefused, FederationRefusal
from services.federation.inbox import Handler, Received

from . import repository, service

_B = TypeVar("_B", bound=BaseModel)


class AgreementMessageRefused(ContentRefused):
    slug = "agreement-message-refused"
    title = "Agreement message refused"
    explanation = (
        "The agreement message does not apply here: from a non-party, other text under a "
        "version held here, a signature that does not verify or covers other text, or a change "
        "the agreement's state does not allow. `violations` lists every reason."
    )


def _refused(code: str, message: str) -> AgreementMessageRefused:
    return AgreementMessageRefused.because([(code, message)])


def _refused_for(faults: list[Fault]) -> AgreementMessageRefused:
    return AgreementMessageRefused.because([(f.code, f.message) for f in faults])


class AgreementNotYetKnown(FederationRefusal):
    status = 409
    slug = "agreement-not-yet-known"
    title = "Agreement not yet known here"
    explanation = "A change arrived before the proposal it refers to; the sender retries."
    retryable = True
    authenticated = True


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
        raise _refused("malformed_field", f"the message body does not hold: {exc}") from exc


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
    except rules.NotAParty:
        # Refused below with every other fault: a sender that is not a party of its text.
        return AgreementState(
            id=raw.id,
            version=raw.version,
            terms=raw.terms,
            supersedes=raw.supersedes,
            status=AgreementStatus.PROPOSED,
        )
    except ContractError as exc:
        raise _refused("invalid_proposal", f"the proposal does not hold: {exc}") from exc


async def _admit(session: AsyncSession, received: Received, *, new_allowed: bool) -> AgreementState:
    """The version the message speaks of, as this node holds it, after every check of
    :func:`contracts.agreements.proposal_faults`: a held version is never rewritten by a
    message, and only a party of what is held may speak for it. With ``new_allowed`` (a
    proposal), a version not held yet is stored."""
    incoming = _proposal(received)
    header = received.envelope.header
    held_row = await repository.get_row(session, incoming.id, incoming.version, lock=True)
    held = repository.to_state(held_row) if held_row is not None else None
    if held is None and not new_allowed:
        raise AgreementNotYetKnown(
            f"Agreement {incoming.ref} has not been proposed to {header.to} yet."
        )
    latest_row = await repository.get_row(session, incoming.id)
    latest = repository.to_state(latest_row) if latest_row is not None else None
    faults = rules.proposal_faults(
        incoming, sender=header.from_, recipient=header.to, held=held, latest=latest
    )
    if faults:
        raise _refused_for(faults)
    if held is not None:
        return held
    await repository.save(session, incoming)
    await service.announce(session, received.federation, incoming, "proposed", by=header.from_)
    return incoming


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
    state = await _admit(session, received, new_allowed=True)
    await _note(session, received, state, "proposal_received")


async def on_signed(session: AsyncSession, received: Received) -> None:
    body = _body(_SignedBody, received)
    signature = body.signature
    if signature.agency != received.envelope.header.from_:
        raise _refused("not_own_signature", "a node may relay only its own agencies' signatures")
    # The proposal comes from its proposer; a signature on a version not held waits for it.
    state = await _admit(session, received, new_allowed=False)
    directory = received.federation.directory.require()
    try:
        key = directory.member_key(signature.agency, signature.kid, at=body.at, use="sig")
        verify_json(
            state.canonical(), SignatureBlock(kid=signature.kid, value=signature.value), key
        )
    except (DirectoryError, KeyProblem, EnvelopeError) as exc:
        raise _refused(
            "signature_does_not_verify", f"the signature of {signature.agency} does not verify"
        ) from exc
    if any(s.signature == signature and s.digest == body.digest for s in state.signatures):
        return
    was = state.status
    try:
        state = rules.sign(state, signature, digest=body.digest, at=body.at)
    except ContractError as exc:
        raise _refused("invalid_signature", str(exc)) from exc
    await repository.save(session, state)
    await _note(session, received, state, "signature_received")
    await service.announce_signature(session, received.federation, was, state, by=signature.agency)
    await service.after_change(session, state, federation=received.federation)


async def _on_change(session: AsyncSession, received: Received, action: str) -> None:
    body = _body(_ChangeBody, received)
    row = await repository.get_row(session, body.id, body.version, lock=True)
    if row is None:
        raise AgreementNotYetKnown("The agreement has not reached this node yet.")
    state = repository.to_state(row)
    faults = rules.change_faults(state, sender=received.envelope.header.from_, by=body.by)
    if faults:
        raise _refused_for(faults)
    transition, _ = service.TRANSITIONS[action]
    kwargs: dict[str, Any] = {"by": body.by, "at": body.at}
    if action != "resume":
        kwargs["reason"] = body.reason or ""
    try:
        state = transition(state, **kwargs)
    except InvalidTransition as exc:
        if state.status == AgreementStatus.TERMINATED:
            return  # already ended here; nothing left to change
        raise _refused("invalid_transition", str(exc)) from exc
    except ContractError as exc:
        raise _refused("invalid_change", str(exc)) from exc
    await repository.save(session, state)
    await _note(session, received, state, action)
    await service.announce(session, received.federation, state, service.CHANGED[action], by=body.by)


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
