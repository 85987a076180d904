"""Why a node refuses a message. Each reason is its own problem type, so the sending node (and
its admins) can tell a wrong clock from a forged signature from a misaddressed message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from contracts.envelope import RefusalReason
from kit.errors import AccordError


class FederationRefusal(AccordError):
    """A message refused on receipt; recorded as an incident for this node's admins."""

    slug = "federation-refused"
    title = "Message refused"
    #: Whether the sender should try again later (the refusal may pass) or give up.
    retryable = False
    #: Whether the refusal came after the sender's signature and delivery attempt verified. An
    #: unauthenticated refusal is counted and logged (rate-limited) but writes no row: anyone
    #: can send those, and a row each would let them fill the database.
    authenticated = False

    def problem(self) -> dict[str, Any]:
        # The sender decides from this whether to try again: a slug it does not know (a
        # handler's own refusal) still says so.
        return {**super().problem(), "retryable": self.retryable}

    def refusal_reasons(self) -> list[RefusalReason]:
        """Every reason, for a signed refusal receipt (DESIGN §4): the ``violations`` the
        refusal lists, or else the refusal itself."""
        listed = self.extra.get("violations") or []
        reasons = [
            RefusalReason(code=str(v["code"]), message=str(v["message"])[:1000]) for v in listed
        ]
        return reasons or [
            RefusalReason(code=self.slug.replace("-", "_"), message=self.detail[:1000] or "-")
        ]


class ContentRefused(FederationRefusal):
    """A message that verified (a directory member signed it, fresh, addressed here) whose
    content this node refuses: answered with a signed refusal receipt listing every reason, and
    stored only as evidence, never as data (DESIGN §4). Raised by message handlers; whatever
    the handler wrote before it is rolled back."""

    status = 422
    slug = "message-refused"
    title = "Message refused"
    explanation = (
        "The recipient verified the message and refused its content; `violations` lists every "
        "reason and `receipt` is the recipient's signed refusal receipt."
    )
    authenticated = True

    @classmethod
    def because(cls, reasons: Sequence[tuple[str, str]], **extra: Any) -> Self:
        """A refusal for ``(code, message)`` reasons, each kept for the receipt."""
        return cls(
            "; ".join(message for _, message in reasons),
            extra={
                "violations": [{"code": code, "message": message} for code, message in reasons],
                **extra,
            },
        )


class MalformedEnvelope(FederationRefusal):
    status = 400
    slug = "malformed-envelope"
    title = "Not a valid envelope"
    explanation = "The body is not an Accord envelope (DESIGN §4); `errors` says where."


class MessageTooLarge(FederationRefusal):
    status = 413
    slug = "message-too-large"
    title = "Message too large"
    explanation = "The envelope exceeds ACCORD_FEDERATION_MAX_MESSAGE_BYTES on the recipient."


class RecipientNotHosted(FederationRefusal):
    status = 421
    slug = "recipient-not-hosted"
    title = "Recipient not hosted here"
    explanation = "The envelope's `to` agency is not hosted on this node; check the directory."


class UnknownSender(FederationRefusal):
    status = 403
    slug = "unknown-sender"
    title = "Unknown sender"
    explanation = "The `from` agency is not a member of the directory this node holds."
    retryable = True


class UnknownSigningKey(FederationRefusal):
    status = 403
    slug = "unknown-signing-key"
    title = "Unknown signing key"
    explanation = (
        "The sender's key id is not in its directory entry; publish it in a new directory."
    )
    retryable = True


class SigningKeyNotValid(FederationRefusal):
    status = 403
    slug = "signing-key-not-valid"
    title = "Signing key expired or not yet valid"
    explanation = "The signing key was not valid when the message says it was sent."


class BadSignature(FederationRefusal):
    status = 403
    slug = "bad-signature"
    title = "Signature does not verify"
    explanation = "The envelope (or its sealed digests) was altered, or signed by another key."


class StaleAttempt(FederationRefusal):
    status = 400
    slug = "stale-delivery-attempt"
    title = "Delivery attempt outside the clock-skew window"
    explanation = (
        "The Accord-Attempt statement is missing, replayed or made with a wrong clock "
        "(window: ACCORD_FEDERATION_SKEW_SECONDS)."
    )
    retryable = True


class FutureMessage(FederationRefusal):
    status = 400
    slug = "message-from-the-future"
    title = "Message sent in the future"
    explanation = "`sent_at` is ahead of this node's clock by more than the skew window."
    retryable = True
    authenticated = True


class MessageExpired(FederationRefusal):
    status = 400
    slug = "message-expired"
    title = "Message expired"
    explanation = "`expires_at` has passed; the sender must send a new message."
    authenticated = True


class MessageIdReused(FederationRefusal):
    status = 409
    slug = "message-id-reused"
    title = "Message id already used for other content"
    explanation = (
        "A message with this id and different content was already received. A retry must "
        "repeat the message exactly; new content needs a new id."
    )
    authenticated = True


class MalformedBatch(FederationRefusal):
    status = 400
    slug = "malformed-batch"
    title = "Not a valid batch"
    explanation = (
        'The body is not `{"envelopes": [...], "attempts": [...]}` with one Accord '
        "envelope and one delivery attempt per entry (DESIGN §4); `errors` says where."
    )


class BatchTooLarge(FederationRefusal):
    status = 413
    slug = "batch-too-large"
    title = "Too many envelopes in one batch"
    explanation = "A batch carries at most 100 envelopes; send the rest in another batch."


class MixedBatch(FederationRefusal):
    status = 400
    slug = "mixed-batch"
    title = "A batch spans several channels"
    explanation = (
        "Every envelope of a batch has the same `from` and the same `to` (one sender→recipient "
        "channel, in order); send each channel's messages in a batch of its own."
    )


class NotAttempted(FederationRefusal):
    """An envelope of a batch after one whose refusal may pass later: left alone, so the channel
    stays in order (a single-message sender would not have sent it yet either)."""

    status = 409
    slug = "not-attempted"
    title = "Not attempted: an earlier envelope of the batch must go first"
    explanation = (
        "An earlier envelope of this batch was refused with a refusal that may pass later; "
        "this one was neither verified nor stored. Send it again after that one."
    )
    retryable = True


class UnknownMessageType(ContentRefused):
    status = 422
    slug = "unknown-message-type"
    title = "Unknown message type"
    explanation = "This node does not handle messages of this `type`."


class DirectoryUnavailable(AccordError):
    status = 503
    slug = "directory-unavailable"
    title = "No federation directory"
    explanation = (
        "This node holds no verified directory: set ACCORD_DIRECTORY and ACCORD_DIRECTORY_ROOT_KEY."
    )
