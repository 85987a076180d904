"""Domain refusals from ``contracts`` as RFC 9457 problems: the one place they are mapped.

``contracts`` raises :class:`~contracts.faults.FaultsError` (with every fault of a document),
:class:`~contracts.faults.InvalidTransition` and their subclasses; it knows nothing of HTTP.
Services turn them into problems here, so consent, case data and (later) agreements answer in
one shape::

    {"type": "/problems/consent-invalid", "status": 422, "detail": "...",
     "errors": [{"location": "body.given_by", "message": "...", "code": "child_given_by_self",
                 "type": "child_given_by_self"}]}

``location`` is written as FastAPI's own validation errors write it (``body.data.identity.
date_of_birth``), and ``type`` repeats ``code`` so an entry reads the same whichever validation
layer produced it. Messages come from ``contracts`` and name fields, never the values sent.

Use :func:`problem_for` where the caller knows where the document sat in the request
(``at=("body", "data")``); the exception handler installed by
``kit.http.problems.install_problem_handlers`` maps anything that escapes with the
document at ``body``, so a domain refusal is never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from contracts.agreements import StaleDigest
from contracts.categories import CategoryDataInvalid
from contracts.consent import ConsentInvalid
from contracts.faults import ContractError, Fault, FaultsError, InvalidTransition, Loc
from contracts.policy import PolicyRefused
from kit.errors import AccordError, Conflict, ValidationFailed


class DocumentInvalid(ValidationFailed):
    """A document refused by a ``contracts`` validator; ``errors`` names every fault."""

    slug: ClassVar[str] = "document-invalid"
    title = "Document refused"
    explanation = (
        "The document does not satisfy its schema or its rules. `errors` lists every fault at "
        "once, each with its `location` in the request, a `message` and a stable `code`."
    )


class CategoryDataRefused(DocumentInvalid):
    slug: ClassVar[str] = "category-data-invalid"
    title = "Category data refused"
    explanation = (
        "Case data must fit the schema of its data category (DESIGN §1), and only categories of "
        "the vocabulary exist. `errors` names each bad field by its `location`."
    )


class ConsentRefused(DocumentInvalid):
    slug: ClassVar[str] = "consent-invalid"
    title = "Consent refused"
    explanation = (
        "The consent does not satisfy the rules: for a child, given by a guardian or legal "
        "representative with the child's views recorded (CRC art. 3, 12); a validity in the "
        "future; evidence for verbal consent. `errors` lists every reason."
    )


class TransitionRefused(Conflict):
    slug: ClassVar[str] = "invalid-transition"
    title = "Not allowed in the current status"
    explanation = (
        "The action does not apply to the resource in its current status (e.g. withdrawing a "
        "consent that is already withdrawn). `current_status` is the resource's status, "
        "`action` the action refused."
    )


def location(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)


def fault_entries(faults: Sequence[Fault], at: Loc = ("body",)) -> list[dict[str, str]]:
    return [
        {
            "location": location((*at, *f.loc)),
            "message": f.message,
            "code": f.code,
            "type": f.code,
        }
        for f in faults
    ]


def _detail(faults: Sequence[Fault], at: Loc, what: str) -> str:
    places = ", ".join(dict.fromkeys(location((*at, *f.loc)) for f in faults))
    noun = "fault" if len(faults) == 1 else "faults"
    return f"The {what} was refused with {len(faults)} {noun} at: {places}. See `errors`."


class PolicyViolation(AccordError):
    status = 403
    slug: ClassVar[str] = "policy-refused"
    title = "Refused by policy"
    explanation = (
        "The disclosure is not allowed by the agreement, the consent or the erasure rule. "
        "`violations` lists every reason (code, message, category), in words a focal point "
        "can act on; fix them all and try again."
    )


class StaleDigestRefused(Conflict):
    slug: ClassVar[str] = "stale-digest"
    title = "Signature over text that is not current"
    explanation = (
        "The digest signed is not the agreement's current canonical text (it was revised). "
        "Read the agreement again, review the text, and sign its current digest."
    )


def problem_for(error: ContractError, *, at: Loc = ("body",)) -> AccordError:
    """The problem for a domain refusal, its faults located under ``at`` in the request."""
    if isinstance(error, PolicyRefused):
        reasons = [r.as_dict() for r in error.reasons]
        return PolicyViolation(
            f"{len(reasons)} reason(s) refuse this disclosure: "
            + "; ".join(r["message"] for r in reasons),
            extra={"violations": reasons},
        )
    if isinstance(error, StaleDigest):
        return StaleDigestRefused(str(error), extra={"current_digest": error.current})
    if isinstance(error, InvalidTransition):
        return TransitionRefused(
            # Not "status": RFC 9457 reserves it for the HTTP status code.
            error.message,
            extra={"action": error.action, "current_status": error.status},
        )
    if isinstance(error, FaultsError):
        kind: type[DocumentInvalid]
        what: str
        if isinstance(error, ConsentInvalid):
            kind, what = ConsentRefused, "consent"
        elif isinstance(error, CategoryDataInvalid):
            kind, what = CategoryDataRefused, "case data"
        else:
            kind, what = DocumentInvalid, "document"
        return kind(
            _detail(error.faults, at, what), extra={"errors": fault_entries(error.faults, at)}
        )
    # Any other domain error is still an expected refusal, never a 500.
    return AccordError(str(error), status=422)


__all__ = [
    "CategoryDataRefused",
    "ConsentRefused",
    "DocumentInvalid",
    "PolicyViolation",
    "StaleDigestRefused",
    "TransitionRefused",
    "fault_entries",
    "problem_for",
]
