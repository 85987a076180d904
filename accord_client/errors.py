"""RFC 9457 problems as typed exceptions: match on the class, or on ``code``.

``code`` is the problem's ``code`` member where the node sends one (``idempotency_key_reused``),
else the slug of its ``type`` (``/problems/policy-refused`` → ``policy-refused``).
"""

from __future__ import annotations

from typing import Any

import httpx


class AccordError(Exception):
    """Anything this client raises on purpose."""


class AccordProblem(AccordError):
    """A 4xx or 5xx answer from a node, as the problem document it sent."""

    def __init__(self, body: dict[str, Any], *, headers: httpx.Headers | None = None) -> None:
        self.body = body
        self.type: str = str(body.get("type", "about:blank"))
        self.title: str = str(body.get("title", ""))
        self.status: int = int(body.get("status", 0))
        self.detail: str = str(body.get("detail", ""))
        # OAuth errors (RFC 6749 §5.2) name themselves in ``error`` (``invalid_client``).
        self.code: str = str(body.get("code") or body.get("error") or self.type.rsplit("/", 1)[-1])
        self.violations: list[dict[str, Any]] = list(body.get("violations") or [])
        self.errors: list[dict[str, Any]] = list(body.get("errors") or [])
        self.request_id: str | None = body.get("request_id")
        self.headers = headers or httpx.Headers()
        super().__init__(f"{self.status} {self.code}: {self.detail or self.title}")

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("Retry-After")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class BadRequest(AccordProblem):
    """400: the request could not be read (malformed JSON, an OAuth grant error)."""


class Unauthenticated(AccordProblem):
    """401: no token, a bad one, or bad client credentials."""


class Forbidden(AccordProblem):
    """403: the caller lacks the scope or role."""


class PolicyRefused(Forbidden):
    """403 ``policy-refused``: the disclosure breaks the agreement, the consent or a rule of
    protection; ``violations`` names every reason."""


class NotFound(AccordProblem):
    """404: no such resource for this caller's agency."""


class Conflict(AccordProblem):
    """409: not allowed in the resource's current status, or a stale digest."""


class IdempotencyInProgress(Conflict):
    """409 ``idempotency_in_progress``: the first request with this key has not finished."""


class ValidationProblem(AccordProblem):
    """422: a field or a document is invalid; ``errors`` locates each fault."""


class IdempotencyKeyReused(ValidationProblem):
    """422 ``idempotency_key_reused``: the key was used before with another body."""


class RateLimited(AccordProblem):
    """429: slow down; ``retry_after`` says for how long."""


class ServerProblem(AccordProblem):
    """5xx: the node failed or is unavailable."""


BY_CODE: dict[str, type[AccordProblem]] = {
    "policy-refused": PolicyRefused,
    "idempotency_key_reused": IdempotencyKeyReused,
    "idempotency-key-reused": IdempotencyKeyReused,
    "idempotency_in_progress": IdempotencyInProgress,
    "idempotency-in-progress": IdempotencyInProgress,
    # A bad client secret or assertion: 400 or 401 as RFC 6749 §5.2 has it, the same fault.
    "invalid_client": Unauthenticated,
}
BY_STATUS: dict[int, type[AccordProblem]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationProblem,
    429: RateLimited,
}


def problem_from(response: httpx.Response) -> AccordProblem:
    """The typed exception for an error response, whether or not its body is a problem."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"title": response.reason_phrase, "detail": response.text[:200]}
    body.setdefault("status", response.status_code)
    probe = AccordProblem(body)
    kind = BY_CODE.get(probe.code) or BY_STATUS.get(response.status_code)
    if kind is None:
        kind = ServerProblem if response.status_code >= 500 else AccordProblem
    return kind(body, headers=response.headers)
