"""Referral messages between the sender's node and the recipient's.

The recipient re-checks every referral it receives, and the sender every result sealed back,
against the agreement it names with the same pure policy decision the sending side made
(``contracts.policy``): a message that fails is refused with a signed refusal receipt listing
every reason, and nothing of it is stored as data (DESIGN §4). What passes is opened with the
agency's keys and at once re-sealed under a data key of this referral (DESIGN §4 "At rest"), so
erasing that key later erases the content. Every answer is applied only when it comes from the
referral's counterpart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import envelope as env
from contracts.agreements import AgreementState, AgreementStatus, effective_status
from contracts.categories import CategoryDataInvalid, is_category, validate_category_data
from contracts.consent import ConsentScope
from contracts.faults import ContractError
from contracts.keys import KeyProblem, PrivateKey
from contracts.patterns import pattern_message
from contracts.policy import Decision, PersonStates, decide_received, decide_results
from contracts.referrals import ACTOR_PATTERN, DECISION_REF_PATTERN, Action, ReferralStatus
from kit.db.base import new_id
from services.agreements import repository as agreement_rows
from services.audit import service as audit
from services.cases.sealing import data_slot
from services.consents import service as consents
from services.federation.errors import ContentRefused
from services.federation.errors import FederationRefusal as _Refusal
from services.federation.inbox import Handler, Received
from services.federation.models import OutboxMessage
from services.federation.runtime import Federation, SettledHook

from . import erasure, repository, service
from .models import Referral
from .vault import ReferralVault, new_vault, vault_for

PEER = "node"
COMPLETED_EVENT = "referral.completed"
_B = TypeVar("_B", bound=BaseModel)


@dataclass(frozen=True)
class Completed:
    """The sender learnt a referral's outcome (and opened what came back with it), with who
    decided and the reference of the written decision when the recipient gave them."""

    row: Referral
    results: dict[str, dict[str, Any]]
    decided_by: str | None = None
    decision_ref: str | None = None


class ReferralRefused(ContentRefused):
    slug = "referral-refused"
    title = "Referral message refused"
    explanation = (
        "The referral message does not apply here: not under an agreement in force at the "
        "recipient, outside what the agreement or the consent allows, not from the referral's "
        "counterpart, or a step its state does not allow. `violations` lists every reason."
    )


class ReferralNotYetKnown(_Refusal):
    status = 409
    slug = "referral-not-yet-known"
    title = "Referral not yet known here"
    explanation = "An answer arrived before the referral it answers; the sender retries."
    retryable = True
    authenticated = True


class AgreementNotYetHere(_Refusal):
    status = 409
    slug = "agreement-not-yet-here"
    title = "Agreement not yet in force here"
    explanation = (
        "The referral names an agreement whose proposal or last signatures have not reached "
        "the recipient yet; the sender retries until they have."
    )
    retryable = True
    authenticated = True


def _refuse(code: str, message: str) -> ReferralRefused:
    return ReferralRefused.because([(code, message)])


# --- what each message's signed body holds -------------------------------------------------

_Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
_Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
_Actor = Annotated[str, StringConstraints(pattern=ACTOR_PATTERN)]
_DecisionRef = Annotated[str, StringConstraints(pattern=DECISION_REF_PATTERN)]


class _Body(BaseModel):
    # A field nobody agreed to send is refused, not stored: bodies travel unsealed.
    model_config = ConfigDict(extra="forbid")


class _Referral(_Body):
    id: _Id
    purpose: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    respond_by: AwareDatetime | None = None
    stage: _Slug | None = None
    consent: ConsentScope | None = None


class _Sent(_Body):
    referral: _Referral


class _Answer(_Body):
    referral_id: _Id
    at: AwareDatetime


class _Completion(_Answer):
    outcome: _Slug
    decided_by: _Actor | None = None
    decision_ref: _DecisionRef | None = None


class _Cancellation(_Answer):
    reason: Literal["diverted"] | None = None


class _Notice(_Answer):
    category: _Slug
    until: AwareDatetime


def _body(model: type[_B], received: Received) -> _B:
    try:
        return model.model_validate(received.envelope.body)
    except ValidationError as exc:
        raise ReferralRefused.because(
            [
                (
                    "malformed_field",
                    f"body.{'.'.join(str(p) for p in e['loc'])}: {pattern_message(e) or e['msg']}",
                )
                for e in exc.errors()
            ]
        ) from exc


def _referral_id(received: Received, body_id: str) -> str:
    header_id = received.envelope.header.referral
    if header_id is not None and header_id != body_id:
        raise _refuse(
            "referral_mismatch",
            f"the header names referral {header_id}, the body {body_id}",
        )
    return body_id


def _shape_faults(opened: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """Every field of the opened categories that does not fit the category's schema: what a
    recipient stores has the shape every node agreed to (DESIGN §1)."""
    faults: list[tuple[str, str]] = []
    for name, value in sorted(opened.items()):
        if not is_category(name):
            continue  # refused by the policy decision as outside the vocabulary
        try:
            validate_category_data(name, value)
        except CategoryDataInvalid as exc:
            faults += [("malformed_field", f"{f.path}: {f.message}") for f in exc.faults]
    return faults


def _refuse_all(decision: Decision, faults: list[tuple[str, str]]) -> None:
    if not decision.allowed or faults:
        raise ReferralRefused.because(
            [(r.code.value, r.message) for r in decision.reasons] + faults
        )


def _open_each(
    envelope: env.Envelope,
    names: list[str],
    keys: dict[str, PrivateKey],
    encryption: str,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Open each named sealed part; ``(opened, faults)`` so that every bad seal is reported."""
    opened: dict[str, dict[str, Any]] = {}
    faults: dict[str, str] = {}
    for name in names:
        try:
            opened[name] = env.open_category(envelope, name, keys, encryption=encryption)
        except env.WeakSuite as exc:
            faults[name] = str(exc)
        except (env.EnvelopeError, KeyProblem) as exc:
            faults[name] = f"does not open with the recipient's keys ({exc})"
    return opened, faults


# --- the recipient ----------------------------------------------------------------------------


async def on_sent(session: AsyncSession, received: Received) -> None:
    """A referral arrives: re-check it as the sender did, then open, re-seal at rest, store."""
    envelope = received.envelope
    header = envelope.header
    body = _body(_Sent, received).referral
    referral_id = _referral_id(received, body.id)
    if header.agreement is None or header.referral is None:
        raise _refuse("malformed_field", "a referral names its agreement and id in the header")
    if header.purpose != body.purpose:
        raise _refuse(
            "purpose_mismatch",
            f"the header's purpose {header.purpose} is not the body's {body.purpose}",
        )
    agreement_row = await agreement_rows.get_row(
        session, header.agreement.id, header.agreement.version
    )
    if agreement_row is None:
        # Messages from different nodes are not ordered: the proposal may still be on its way.
        raise AgreementNotYetHere(f"Agreement {header.agreement} is not held by {header.to} yet.")
    agreement = agreement_rows.to_state(agreement_row)
    if effective_status(agreement, received.now) == AgreementStatus.PROPOSED:
        # The sender holds it in force, so the last signatures are on their way here.
        raise AgreementNotYetHere(
            f"Agreement {agreement.ref} is not signed by every party at {header.to} yet "
            f"(waiting for {', '.join(agreement.unsigned_parties())})."
        )
    if await repository.get_for(session, agency=header.to, referral_id=referral_id) is not None:
        raise _refuse("referral_exists", f"referral {referral_id} is already held by {header.to}")
    keys = await received.federation.keys.by_kid(header.to)
    content, seal_faults = _open_each(
        envelope, sorted(envelope.sealed), keys, agreement.terms.encryption.value
    )
    decision = decide_received(
        agreement=agreement,
        cited_consent=header.consent,
        consent=body.consent,
        sender=header.from_,
        recipient=header.to,
        purpose=body.purpose,
        categories=sorted(envelope.sealed),
        seal_faults=seal_faults,
        now=received.now,
        recipient_entry=service.directory_entry(received.federation, header.to),
        # What the message itself says of the person's states (DESIGN §9).
        person=PersonStates.recorded(content.get("identity")),
    )
    _refuse_all(decision, _shape_faults(content))
    row_id = new_id()
    vault, wrapped = new_vault(received.federation.master_key, row_id)
    row = Referral(
        id=row_id,
        referral_id=referral_id,
        agency=header.to,
        direction="incoming",
        counterpart=header.from_,
        case_id=None,
        purpose=body.purpose,
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        consent_id=header.consent,
        consent_scope=body.consent.model_dump(mode="json") if body.consent else None,
        categories=sorted(content),
        stage=body.stage,
        status=ReferralStatus.RECEIVED.value,
        respond_by=body.respond_by,
        drafted_by=f"{PEER}:{header.from_}",
        data_key_wrapped=wrapped,
        message_id=header.id,
        history=[],
        created_at=received.now,
        updated_at=received.now,
    )
    service._history(row, ReferralStatus.RECEIVED.value, f"{PEER}:{header.from_}", at=received.now)
    await repository.add(session, row)
    await service.announce(session, row)
    await _keep_sealed(session, row, vault, content)
    await service._audit(session, None, row, "referral.received", categories=sorted(content))


async def _keep_sealed(
    session: AsyncSession, row: Referral, vault: ReferralVault, content: dict[str, dict[str, Any]]
) -> None:
    """Re-seal what arrived under the referral's own data key (DESIGN §4 "At rest")."""
    sealed = {category: vault.seal(data_slot(category), v) for category, v in content.items()}
    await repository.add_data(session, row, sealed)


async def _held(
    session: AsyncSession,
    received: Received,
    referral_id: str,
    direction: Literal["outgoing", "incoming"],
) -> Referral:
    """This agency's row of the referral, only if the message's sender is its counterpart."""
    header = received.envelope.header
    row = await repository.get_for(
        session, agency=header.to, referral_id=referral_id, direction=direction, lock=True
    )
    if row is None:
        raise ReferralNotYetKnown(f"Referral {referral_id} is not known here.")
    if row.counterpart != header.from_:
        raise _refuse(
            "not_counterpart",
            f"{header.from_} is not a party to referral {referral_id}; only "
            f"{row.counterpart} answers it",
        )
    return row


async def _outgoing(session: AsyncSession, received: Received, referral_id: str) -> Referral:
    return await _held(session, received, referral_id, "outgoing")


async def _apply(session: AsyncSession, row: Referral, action: Action, at: datetime) -> None:
    try:
        service.move(row, action, f"{PEER}:{row.counterpart}", at=at)
    except ContractError as exc:
        if row.status in (ReferralStatus.REVOKED.value, ReferralStatus.CANCELLED.value):
            return  # the sender moved on (withdrawal, cancellation); the answer changes nothing
        raise _refuse("invalid_transition", str(exc)) from exc
    await service.announce(session, row)
    await service._audit(session, None, row, f"referral.{row.status}")


async def on_accepted(session: AsyncSession, received: Received) -> None:
    body = _body(_Answer, received)
    row = await _outgoing(session, received, _referral_id(received, body.referral_id))
    if received.envelope.sealed:
        raise _refuse("unexpected_content", "an acceptance carries no sealed content")
    await _apply(session, row, Action.ACCEPT, body.at)


async def on_declined(session: AsyncSession, received: Received) -> None:
    """A decline, with its reason sealed: kept sealed under this row's data key."""
    envelope = received.envelope
    body = _body(_Answer, received)
    row = await _outgoing(session, received, _referral_id(received, body.referral_id))
    extra = sorted(set(envelope.sealed) - {service.DECLINE_REASON})
    if extra:
        raise _refuse("unexpected_content", f"a decline seals nothing but its reason: {extra}")
    reason: str | None = None
    if envelope.sealed:
        agreement = await service.agreement_of(
            session, agreement_id=row.agreement_id, version=row.agreement_version
        )
        keys = await received.federation.keys.by_kid(row.agency)
        opened, faults = _open_each(
            envelope, [service.DECLINE_REASON], keys, agreement.terms.encryption.value
        )
        if faults:
            raise _refuse("seal_refused", faults[service.DECLINE_REASON])
        raw = opened[service.DECLINE_REASON].get("reason")
        if not isinstance(raw, str) or not 1 <= len(raw.strip()) <= 500:
            raise _refuse("malformed_field", "the sealed reason is a text of 1 to 500 characters")
        reason = raw.strip()
    was = row.status
    await _apply(session, row, Action.DECLINE, body.at)
    if reason is not None and row.status != was:
        vault = vault_for(received.federation.master_key, row)
        row.reason_sealed = vault.seal(service.DECLINE_REASON, reason)
    if row.status != was:
        await service.announce_end(session, received.federation, row)


async def on_completed(session: AsyncSession, received: Received) -> None:
    """The recipient's outcome, with any result categories sealed back: checked against the
    agreement as the recipient checked them, then re-sealed under this row's data key."""
    envelope = received.envelope
    body = _body(_Completion, received)
    row = await _outgoing(session, received, _referral_id(received, body.referral_id))
    results: dict[str, dict[str, Any]] = {}
    if envelope.sealed:
        agreement = await service.agreement_of(
            session, agreement_id=row.agreement_id, version=row.agreement_version
        )
        _require_same_agreement(received, agreement)
        keys = await received.federation.keys.by_kid(row.agency)
        results, seal_faults = _open_each(
            envelope, sorted(envelope.sealed), keys, agreement.terms.encryption.value
        )
        consent = (
            await consents.record_of_agency(session, agency=row.agency, consent_id=row.consent_id)
            if row.consent_id
            else None
        )
        decision = decide_results(
            agreement=agreement,
            consent=consent,
            sender=row.counterpart,
            recipient=row.agency,
            purpose=row.purpose,
            categories=sorted(envelope.sealed),
            seal_faults=seal_faults,
            now=received.now,
        )
        _refuse_all(decision, _shape_faults(results))
    await _apply(session, row, Action.COMPLETE, body.at)
    row.outcome = body.outcome
    if results:
        await _keep_sealed(session, row, vault_for(received.federation.master_key, row), results)
        await service._audit(
            session, None, row, "referral.results_received", categories=sorted(results)
        )
    await received.federation.events.emit(
        session,
        COMPLETED_EVENT,
        Completed(row, results, decided_by=body.decided_by, decision_ref=body.decision_ref),
    )


def _require_same_agreement(received: Received, agreement: AgreementState) -> None:
    cited = received.envelope.header.agreement
    if cited is None or (cited.id, cited.version) != (agreement.id, agreement.version):
        raise _refuse(
            "agreement_mismatch",
            f"results come back under the referral's agreement {agreement.ref}, not {cited}",
        )


async def on_cancelled(session: AsyncSession, received: Received) -> None:
    """The sender cancelled before acceptance, or its journey left the stage for a safeguard
    (``reason: diverted``, accepted or not): the received copy is erased at once."""
    body = _body(_Cancellation, received)
    row = await _held(session, received, _referral_id(received, body.referral_id), "incoming")
    action = Action.INTERRUPT if body.reason == "diverted" else Action.CANCEL
    try:
        service.move(row, action, f"{PEER}:{row.counterpart}", at=body.at)
    except ContractError:
        pass  # accepted already: the sender's cancellation came too late to apply
    else:
        await service.announce(session, row, reason=body.reason)
        await erasure.erase_received(
            session, received.federation, row, reason="cancelled", at=received.now, notify=True
        )


async def on_break_glass(session: AsyncSession, received: Received) -> None:
    """The recipient opened a withheld category: the owning agency learns it at once."""
    body = _body(_Notice, received)
    row = await _outgoing(session, received, _referral_id(received, body.referral_id))
    await audit.record(
        session,
        agency=row.agency,
        principal=None,
        action="referral.break_glass_notified",
        subject_type="referral",
        subject_id=row.referral_id,
        referral_id=row.referral_id,
        case_id=row.case_id,
        categories=[body.category],
        purpose=row.purpose,
        break_glass=True,
        detail={"by": row.counterpart, "until": body.until.isoformat()},
    )


# --- the sender side follows the outbox ----------------------------------------------------


async def _own_row(session: AsyncSession, message: OutboxMessage) -> Referral | None:
    if message.referral_id is None:
        return None
    return await repository.by_message(
        session, agency=message.sender, referral_id=message.referral_id
    )


def _refusal_reasons(message: OutboxMessage) -> list[dict[str, Any]]:
    receipt = (message.receipt or {}).get("receipt") or {}
    return [
        {"code": str(r.get("code")), "message": str(r.get("message"))}
        for r in receipt.get("reasons") or []
    ]


async def on_sent_settled(
    session: AsyncSession, message: OutboxMessage, federation: Federation
) -> None:
    """Delivered with a receipt: ``sent``. Refused by the recipient with a signed receipt:
    ``refused_by_recipient`` with every reason. Refused unverified, or cancelled by a gate:
    ``rejected``, with the reason, instead of waiting forever."""
    row = await _own_row(session, message)
    if row is None or row.message_id != message.message_id:
        return
    action = {
        "delivered": Action.DELIVERED,
        "refused": Action.REFUSE,
        "rejected": Action.REJECT,
        "cancelled": Action.REJECT,
    }.get(message.status)
    if action is None:
        return
    try:
        service.move(
            row,
            action,
            "node",
            None if action is Action.DELIVERED else (message.last_error or "")[:300],
        )
    except ContractError:
        return  # already moved on (revoked, cancelled) before the delivery settled
    if action is Action.REFUSE:
        row.refusal = _refusal_reasons(message)
    await service.announce(session, row)
    await service._audit(session, None, row, f"referral.{row.status}")
    await service.announce_end(session, federation, row)


async def on_answer_settled(
    session: AsyncSession,
    message: OutboxMessage,
    federation: Federation,  # noqa: ARG001 - the hooks' common signature
) -> None:
    """An answer the counterpart's node refused: its row says so, so someone can act."""
    if message.status not in ("refused", "rejected"):
        return
    row = await _own_row(session, message)
    if row is None:
        return
    service._history(
        row,
        row.status,
        "node",
        f"{message.type} {message.status} by {message.recipient}: "
        f"{(message.last_error or '')[:300]}",
    )
    await service._audit(session, None, row, "referral.answer_refused", message_type=message.type)


HANDLERS: dict[str, Handler] = {
    service.SENT: on_sent,
    service.ACCEPTED: on_accepted,
    service.DECLINED: on_declined,
    service.COMPLETED: on_completed,
    service.CANCELLED: on_cancelled,
    service.BREAK_GLASS: on_break_glass,
    **erasure.HANDLERS,
}

SETTLED: dict[str, SettledHook] = {
    service.SENT: on_sent_settled,
    **dict.fromkeys(
        (
            service.ACCEPTED,
            service.DECLINED,
            service.COMPLETED,
            service.CANCELLED,
            service.BREAK_GLASS,
            service.ERASED,
        ),
        on_answer_settled,
    ),
}
