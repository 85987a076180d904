"""One error type for the whole node, rendered as RFC 9457 problem documents.

Expected failures raise an ``AccordError`` subclass with a stable ``slug``; clients match on the
problem ``type`` (``/problems/<slug>``), which this node also serves as a short explanation.
A 500 always means a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"


class AccordError(Exception):
    """Base of every expected failure. Subclasses set ``status``, ``slug``, ``title``."""

    status: int = 400
    slug: ClassVar[str] = "bad-request"
    title: str = "Bad request"
    #: What the problem means and what a client should do; served at /problems/<slug>.
    explanation: ClassVar[str] = "The request could not be processed as sent."

    def __init__(
        self,
        detail: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(detail)
        if status is not None:
            self.status = status
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.slug

    def problem(self) -> dict[str, Any]:
        return problem_body(self.type_uri(), self.title, self.status, self.detail, **self.extra)


def problem_body(
    type_uri: str, title: str, status: int, detail: str, **extra: Any
) -> dict[str, Any]:
    return {"type": type_uri, "title": title, "status": status, "detail": detail, **extra}


class MalformedJson(AccordError):
    status = 400
    slug = "malformed-json"
    title = "Malformed JSON"
    explanation = "The body is not valid JSON. Check quoting, commas and brackets, then resend."


class ValidationFailed(AccordError):
    status = 422
    slug = "validation-error"
    title = "Request validation failed"
    explanation = (
        "One or more fields are missing, unknown or invalid. `errors` lists each one with its "
        "`location` (e.g. body.categories.0) and a `message` that says what is expected."
    )


class Unauthenticated(AccordError):
    status = 401
    slug = "unauthenticated"
    title = "Authentication required"
    explanation = "Send a valid bearer access token obtained from /oauth/token."


class Forbidden(AccordError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"
    explanation = "The caller is authenticated but lacks the scope or role this action needs."


class NotFound(AccordError):
    status = 404
    slug = "not-found"
    title = "Not found"
    explanation = (
        "Nothing exists at this path for the caller. Check the path against the OpenAPI document "
        "at /openapi.json."
    )


class MethodNotAllowed(AccordError):
    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"
    explanation = (
        "The path exists but not with this HTTP method; the Allow header lists those that do."
    )


class Conflict(AccordError):
    status = 409
    slug = "conflict"
    title = "Conflict"
    explanation = "The resource is not in a state that allows this change."


class PayloadTooLarge(AccordError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"
    explanation = "The body exceeds the node's limit (ACCORD_MAX_BODY_BYTES, 1 MiB by default)."


class UnsupportedMediaType(AccordError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"
    explanation = "Send the body with the Content-Type the operation documents (application/json)."


class TooManyRequests(AccordError):
    status = 429
    slug = "too-many-requests"
    title = "Too many failed attempts"
    explanation = (
        "Repeated failures for this account from this address; wait the number of seconds in the "
        "Retry-After header before trying again."
    )


class ServiceUnavailable(AccordError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"
    explanation = "The node is up but not ready (database unreachable or migrations pending)."


class InternalError(AccordError):
    status = 500
    slug = "internal-error"
    title = "Internal server error"
    explanation = (
        "An unexpected error occurred and nothing was changed. Quote the `request_id` when you "
        "report it; the node's log holds the details."
    )


def problem_types() -> dict[str, type[AccordError]]:
    """Every problem type the node can answer with, by slug (for /problems and the docs)."""
    found: dict[str, type[AccordError]] = {}
    pending: list[type[AccordError]] = [AccordError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.slug, cls)
        pending.extend(cls.__subclasses__())
    return found
