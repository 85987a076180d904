"""The outermost layer of our own: request id, body limit, access log, metrics, last-resort 500.

A pure ASGI middleware rather than ``BaseHTTPMiddleware`` so that the body limit can count bytes
as they stream in, and so that an unhandled exception becomes a problem document here instead
of Starlette's plain-text 500.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kit.db.base import new_id
from kit.errors import AccordError, InternalError, PayloadTooLarge
from kit.observability.logging import get_logger
from kit.observability.metrics import UNMATCHED_ROUTE, HttpMetrics

from .problems import problem_response

log = get_logger("accord.http")

REQUEST_ID_HEADER = "x-request-id"
# A caller-supplied id is echoed only when it cannot smuggle anything into logs.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` mid-stream; an HTTPException, so FastAPI re-raises it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_detail(limit))


def _too_large_detail(limit: int) -> str:
    return f"The request body exceeds the limit of {limit} bytes. Send a smaller body."


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        max_body_bytes: int,
        own_limit_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.own_limit_prefixes = own_limit_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        supplied = headers.get(REQUEST_ID_HEADER, "")
        request_id = supplied if _SAFE_REQUEST_ID.match(supplied) else new_id().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_context(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            if scope["path"].startswith(self.own_limit_prefixes):
                await self.app(scope, receive, send_with_context)
            elif (early := self._reject_declared_size(headers, request_id)) is not None:
                await early(scope, receive, send_with_context)
            else:
                await self.app(scope, self._limited(receive), send_with_context)
        except Exception:
            log.exception("unhandled_error", method=scope["method"], route=route_template(scope))
            if not response_started:
                error = InternalError(
                    f"An unexpected error occurred and nothing was changed. "
                    f"Quote request id {request_id} when reporting it."
                )
                await problem_response(error.problem(), request_id=request_id)(
                    scope, receive, send_with_context
                )
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe(
                method=scope["method"], route=route, status=status, seconds=elapsed
            )
            log.info(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()

    def _reject_declared_size(self, headers: dict[str, str], request_id: str) -> Any:
        """Refuse before reading a byte when Content-Length already says the body is too big."""
        declared = headers.get("content-length")
        if declared is None:
            return None
        error: AccordError
        if not declared.isdigit():
            error = AccordError("The Content-Length header is not a non-negative integer.")
        elif int(declared) > self.max_body_bytes:
            error = PayloadTooLarge(_too_large_detail(self.max_body_bytes))
        else:
            return None
        return problem_response(error.problem(), request_id=request_id)

    def _limited(self, receive: Receive) -> Receive:
        limit = self.max_body_bytes
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return receive_limited
