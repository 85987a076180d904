"""The referral state machine on both sides of the exchange, and four eyes (DESIGN §6).

The table below is the state machine written out a second time, on purpose: every pair of
status and action on each side is tried, so a transition added, dropped or redirected in
``contracts/referrals.py`` fails here until the table (and whoever reviews it) agrees.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from contracts.faults import ContractError, InvalidTransition
from contracts.referrals import (
    CLOSED,
    Action,
    FourEyesViolation,
    ReferralStatus,
    Side,
    check_approver,
    next_status,
)

S = ReferralStatus
A = Action

ALLOWED: dict[Side, dict[tuple[ReferralStatus, Action], ReferralStatus]] = {
    "outgoing": {
        (S.PENDING_APPROVAL, A.APPROVE): S.APPROVED,
        (S.APPROVED, A.DELIVERED): S.SENT,
        (S.APPROVED, A.ACCEPT): S.ACCEPTED,
        (S.SENT, A.ACCEPT): S.ACCEPTED,
        (S.APPROVED, A.DECLINE): S.DECLINED,
        (S.SENT, A.DECLINE): S.DECLINED,
        (S.ACCEPTED, A.COMPLETE): S.COMPLETED,
        (S.PENDING_APPROVAL, A.CANCEL): S.CANCELLED,
        (S.APPROVED, A.CANCEL): S.CANCELLED,
        (S.SENT, A.CANCEL): S.CANCELLED,
        (S.PENDING_APPROVAL, A.REVOKE): S.REVOKED,
        (S.APPROVED, A.REVOKE): S.REVOKED,
        (S.SENT, A.REVOKE): S.REVOKED,
        (S.ACCEPTED, A.REVOKE): S.REVOKED,
        (S.DECLINED, A.REVOKE): S.REVOKED,
        (S.COMPLETED, A.REVOKE): S.REVOKED,
        (S.EXPIRED, A.REVOKE): S.REVOKED,
        (S.APPROVED, A.EXPIRE): S.EXPIRED,
        (S.SENT, A.EXPIRE): S.EXPIRED,
        (S.APPROVED, A.REJECT): S.REJECTED,
        (S.APPROVED, A.REFUSE): S.REFUSED_BY_RECIPIENT,
        # A journey diverted to a safeguard stops the stage's work, accepted or not.
        (S.PENDING_APPROVAL, A.INTERRUPT): S.CANCELLED,
        (S.APPROVED, A.INTERRUPT): S.CANCELLED,
        (S.SENT, A.INTERRUPT): S.CANCELLED,
        (S.ACCEPTED, A.INTERRUPT): S.CANCELLED,
    },
    "incoming": {
        (S.RECEIVED, A.ACCEPT): S.ACCEPTED,
        (S.RECEIVED, A.DECLINE): S.DECLINED,
        (S.ACCEPTED, A.COMPLETE): S.COMPLETED,
        (S.RECEIVED, A.CANCEL): S.CANCELLED,
        (S.RECEIVED, A.REVOKE): S.REVOKED,
        (S.ACCEPTED, A.REVOKE): S.REVOKED,
        (S.DECLINED, A.REVOKE): S.REVOKED,
        (S.COMPLETED, A.REVOKE): S.REVOKED,
        (S.EXPIRED, A.REVOKE): S.REVOKED,
        (S.CANCELLED, A.REVOKE): S.REVOKED,
        (S.RECEIVED, A.EXPIRE): S.EXPIRED,
        (S.RECEIVED, A.INTERRUPT): S.CANCELLED,
        (S.ACCEPTED, A.INTERRUPT): S.CANCELLED,
    },
}
SIDES: tuple[Side, ...] = ("outgoing", "incoming")
EVERY_MOVE = [
    pytest.param(side, status, action, id=f"{side}-{status.value}-{action.value}")
    for side, status, action in itertools.product(SIDES, ReferralStatus, Action)
]


@pytest.mark.parametrize(("side", "status", "action"), EVERY_MOVE)
def test_each_move_goes_where_the_table_says_or_is_refused(
    side: Side, status: ReferralStatus, action: Action
) -> None:
    expected = ALLOWED[side].get((status, action))
    if expected is not None:
        assert next_status(side, status, action) is expected
        return
    with pytest.raises(InvalidTransition) as refused:
        next_status(side, status, action)
    assert (refused.value.action, refused.value.status) == (action.value, status.value)
    assert isinstance(refused.value, ContractError)


def test_the_sender_walks_from_draft_to_completion() -> None:
    status = S.PENDING_APPROVAL
    for action in (A.APPROVE, A.DELIVERED, A.ACCEPT, A.COMPLETE):
        status = next_status("outgoing", status, action)
    assert status is S.COMPLETED


def test_the_receiver_walks_from_receipt_to_completion() -> None:
    status = S.RECEIVED
    for action in (A.ACCEPT, A.COMPLETE):
        status = next_status("incoming", status, action)
    assert status is S.COMPLETED


def test_approving_twice_says_the_referral_is_already_approved() -> None:
    with pytest.raises(InvalidTransition) as refused:
        next_status("outgoing", S.APPROVED, A.APPROVE)
    assert refused.value.message == (
        "the referral is approved; it can be approved only when pending_approval"
    )


def test_a_refused_move_names_every_status_it_needs() -> None:
    with pytest.raises(InvalidTransition) as refused:
        next_status("outgoing", S.ACCEPTED, A.CANCEL)
    assert refused.value.message == (
        "the referral is accepted; it can be cancelled only when approved, pending_approval, sent"
    )


@pytest.mark.parametrize("action", [A.APPROVE, A.DELIVERED, A.REJECT, A.REFUSE])
def test_the_receiving_agency_cannot_take_the_senders_actions(action: Action) -> None:
    with pytest.raises(InvalidTransition, match="an incoming referral cannot be") as refused:
        next_status("incoming", S.RECEIVED, action)
    assert refused.value.status == "received"


def test_a_referral_cannot_be_cancelled_once_the_recipient_accepted_it() -> None:
    for side in SIDES:
        with pytest.raises(InvalidTransition):
            next_status(side, S.ACCEPTED, A.CANCEL)


def test_a_withdrawn_consent_revokes_even_a_closed_referral_at_the_sender() -> None:
    # The sender still holds the person's data after declined, completed or expired.
    for status in (S.DECLINED, S.COMPLETED, S.EXPIRED):
        assert next_status("outgoing", status, A.REVOKE) is S.REVOKED


@pytest.mark.parametrize("status", [S.REJECTED, S.REFUSED_BY_RECIPIENT, S.REVOKED, S.CANCELLED])
def test_a_referral_that_never_arrived_or_was_revoked_goes_nowhere_at_the_sender(
    status: ReferralStatus,
) -> None:
    for action in Action:
        with pytest.raises(InvalidTransition):
            next_status("outgoing", status, action)


def test_a_revoked_referral_goes_nowhere_at_the_receiver() -> None:
    for action in Action:
        with pytest.raises(InvalidTransition):
            next_status("incoming", S.REVOKED, action)


def test_closed_statuses_are_those_after_which_the_data_is_no_longer_needed() -> None:
    assert {
        S.DECLINED,
        S.COMPLETED,
        S.CANCELLED,
        S.REVOKED,
        S.EXPIRED,
        S.REJECTED,
        S.REFUSED_BY_RECIPIENT,
    } == CLOSED
    assert not CLOSED & {S.PENDING_APPROVAL, S.APPROVED, S.SENT, S.RECEIVED, S.ACCEPTED}


# --- four eyes ---------------------------------------------------------------------------


def approve(
    *, approver: str = "u2", agency: str = "unhcr", roles: tuple[str, ...] = ("focal_point",)
) -> None:
    """An approval of a referral that u1 drafted at UNHCR."""
    check_approver(
        approver=approver,
        drafter="u1",
        approver_agency=agency,
        sender="unhcr",
        approver_roles=roles,
    )


def reasons_refused(**approval: Any) -> list[str]:
    with pytest.raises(FourEyesViolation) as refused:
        approve(**approval)
    assert isinstance(refused.value, ContractError)
    assert str(refused.value) == "; ".join(refused.value.reasons)
    return refused.value.reasons


def test_a_focal_point_of_the_sender_who_did_not_draft_may_approve() -> None:
    approve()


def test_the_drafter_cannot_approve_their_own_referral() -> None:
    assert reasons_refused(approver="u1") == [
        "the person who drafted a referral cannot approve it (four eyes)"
    ]


def test_approving_needs_the_focal_point_role() -> None:
    assert reasons_refused(roles=("caseworker", "admin")) == [
        "approving needs the focal_point role"
    ]


def test_a_focal_point_of_another_agency_cannot_approve() -> None:
    assert reasons_refused(agency="iom") == ["only unhcr approves its own referrals"]


def test_every_reason_an_approval_is_refused_is_given_at_once() -> None:
    assert reasons_refused(approver="u1", agency="iom", roles=()) == [
        "only unhcr approves its own referrals",
        "approving needs the focal_point role",
        "the person who drafted a referral cannot approve it (four eyes)",
    ]
