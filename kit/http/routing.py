"""Routers whose JSON operations refuse other media types with 415 instead of a confusing 422."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response, params
from fastapi.routing import APIRoute, iter_route_contexts

from kit.errors import UnsupportedMediaType

from .idempotency import hand_over


def _is_json(content_type: str) -> bool:
    message = Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length != "0"
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_json = self.body_field is not None and not isinstance(
            self.body_field.field_info, params.Form
        )

        async def route(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if takes_json and _has_body(request) and not (content_type and _is_json(content_type)):
                shown = content_type.split(";")[0].strip() if content_type else "none"
                raise UnsupportedMediaType(
                    f"This operation takes application/json; the request was sent as {shown}. "
                    "Set `Content-Type: application/json`."
                )
            response = await handler(request)
            # Here the request's transaction is still open (FastAPI commits it when this
            # returns), so an Idempotency-Key can keep this answer in that same transaction.
            hand_over(request, response)
            return response

        return route


def api_router(**kwargs: Any) -> APIRouter:
    """The router every API package uses, so media-type rules are the same everywhere."""
    return APIRouter(route_class=JsonRoute, **kwargs)


def operations(app: FastAPI) -> list[tuple[str, str, Any]]:
    """Every (method, path template, dependant) the app serves, with router prefixes applied.

    Recent FastAPI keeps included routers nested instead of copying their routes, so
    ``app.routes`` alone does not list them; ``iter_route_contexts`` walks the nesting.
    """
    found = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        for method in sorted(context.methods or []):
            if method != "HEAD" and context.path is not None:
                found.append((method, context.path, dependant))
    return found
