"""The referral state machine, on both sides of the exchange (DESIGN §6).

Sender: ``pending_approval`` → approve → ``approved`` → delivered → ``sent`` → ``accepted`` |
``declined`` → ``completed``; also ``cancelled`` (before acceptance), ``revoked`` (its consent
was withdrawn), ``expired`` (``respond_by`` passed unanswered), ``refused_by_recipient`` (the
recipient verified the referral and refused its content with a signed refusal receipt naming
every reason, DESIGN §4) and ``rejected`` (it never reached the recipient: refused unverified,
or stopped before delivery because its agreement or consent no longer allowed it).

Receiver: ``received`` → accept | decline → ``accepted`` → complete → ``completed``; also
``cancelled`` (the sender cancelled), ``revoked`` (consent withdrawn; content erased) and
``expired``.

Four eyes: the approver is a focal point of the sending agency and never the person (or
system) who drafted the referral.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Literal

from contracts.faults import ContractError, InvalidTransition

Side = Literal["outgoing", "incoming"]

ACTOR_PATTERN = r"^[a-z][a-z0-9-]{1,62}/(user|client|node):[A-Za-z0-9._:-]{1,128}$"
"""Who took a decision, as ``agency/user:<id>``: a principal of the acting agency, never a name."""

DECISION_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,119}$"
"""The reference of a written decision (``BID-2025-014``), filed by the agency that took it. It
travels in the open beside the outcome: a reference, never the decision's content."""


class ReferralStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    SENT = "sent"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REVOKED = "revoked"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REFUSED_BY_RECIPIENT = "refused_by_recipient"


class Action(StrEnum):
    APPROVE = "approve"
    DELIVERED = "delivered"
    ACCEPT = "accept"
    DECLINE = "decline"
    COMPLETE = "complete"
    CANCEL = "cancel"
    INTERRUPT = "interrupt"
    REVOKE = "revoke"
    EXPIRE = "expire"
    REJECT = "reject"
    REFUSE = "refuse"


S = ReferralStatus
#: Which action moves which status where, per side. What is not listed is refused.
TRANSITIONS: dict[Side, dict[Action, tuple[frozenset[ReferralStatus], ReferralStatus]]] = {
    "outgoing": {
        Action.APPROVE: (frozenset({S.PENDING_APPROVAL}), S.APPROVED),
        Action.DELIVERED: (frozenset({S.APPROVED}), S.SENT),
        Action.ACCEPT: (frozenset({S.APPROVED, S.SENT}), S.ACCEPTED),
        Action.DECLINE: (frozenset({S.APPROVED, S.SENT}), S.DECLINED),
        Action.COMPLETE: (frozenset({S.ACCEPTED}), S.COMPLETED),
        Action.CANCEL: (frozenset({S.PENDING_APPROVAL, S.APPROVED, S.SENT}), S.CANCELLED),
        # The journey left the stage for a safeguard the facts now require (DESIGN §9): the
        # stage's work stops even if the recipient had accepted it, and its copy is erased.
        Action.INTERRUPT: (
            frozenset({S.PENDING_APPROVAL, S.APPROVED, S.SENT, S.ACCEPTED}),
            S.CANCELLED,
        ),
        Action.REVOKE: (
            frozenset(
                {
                    S.PENDING_APPROVAL,
                    S.APPROVED,
                    S.SENT,
                    S.ACCEPTED,
                    S.DECLINED,
                    S.COMPLETED,
                    S.EXPIRED,
                }
            ),
            S.REVOKED,
        ),
        Action.EXPIRE: (frozenset({S.APPROVED, S.SENT}), S.EXPIRED),
        Action.REJECT: (frozenset({S.APPROVED}), S.REJECTED),
        Action.REFUSE: (frozenset({S.APPROVED}), S.REFUSED_BY_RECIPIENT),
    },
    "incoming": {
        Action.ACCEPT: (frozenset({S.RECEIVED}), S.ACCEPTED),
        Action.DECLINE: (frozenset({S.RECEIVED}), S.DECLINED),
        Action.COMPLETE: (frozenset({S.ACCEPTED}), S.COMPLETED),
        Action.CANCEL: (frozenset({S.RECEIVED}), S.CANCELLED),
        Action.INTERRUPT: (frozenset({S.RECEIVED, S.ACCEPTED}), S.CANCELLED),
        Action.REVOKE: (
            frozenset({S.RECEIVED, S.ACCEPTED, S.DECLINED, S.COMPLETED, S.EXPIRED, S.CANCELLED}),
            S.REVOKED,
        ),
        Action.EXPIRE: (frozenset({S.RECEIVED}), S.EXPIRED),
    },
}

#: Statuses after which the person's data is no longer needed by the recipient.
CLOSED = frozenset(
    {
        S.DECLINED,
        S.COMPLETED,
        S.CANCELLED,
        S.REVOKED,
        S.EXPIRED,
        S.REJECTED,
        S.REFUSED_BY_RECIPIENT,
    }
)


def next_status(side: Side, status: ReferralStatus, action: Action) -> ReferralStatus:
    """Where ``action`` takes a referral in ``status``; :class:`InvalidTransition` if nowhere.

    The message names the current status and what the action needs, so a repeated request
    (approving twice) reads as "already approved", not as a mystery.
    """
    rule = TRANSITIONS[side].get(action)
    if rule is None:
        raise InvalidTransition(
            action.value,
            status.value,
            f"an {side} referral cannot be {_past(action)} by this agency",
        )
    allowed, target = rule
    if status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise InvalidTransition(
            action.value,
            status.value,
            f"the referral is {status.value}; it can be {_past(action)} only when {names}",
        )
    return target


def _past(action: Action) -> str:
    return {
        Action.APPROVE: "approved",
        Action.DELIVERED: "delivered",
        Action.ACCEPT: "accepted",
        Action.DECLINE: "declined",
        Action.COMPLETE: "completed",
        Action.CANCEL: "cancelled",
        Action.INTERRUPT: "interrupted",
        Action.REVOKE: "revoked",
        Action.EXPIRE: "expired",
        Action.REJECT: "rejected",
        Action.REFUSE: "refused by the recipient",
    }[action]


class FourEyesViolation(ContractError):
    """The approval is refused: every reason, in words a focal point understands."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def check_approver(
    *,
    approver: str,
    drafter: str,
    approver_agency: str,
    sender: str,
    approver_roles: Collection[str],
) -> None:
    """DESIGN §6: the approver is a focal point of the sending agency, never the drafter."""
    reasons = []
    if approver_agency != sender:
        reasons.append(f"only {sender} approves its own referrals")
    if "focal_point" not in approver_roles:
        reasons.append("approving needs the focal_point role")
    if approver == drafter:
        reasons.append("the person who drafted a referral cannot approve it (four eyes)")
    if reasons:
        raise FourEyesViolation(reasons)
