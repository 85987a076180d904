"""Exception handlers: every error leaves the node as an RFC 9457 problem document."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.faults import ContractError
from contracts.patterns import pattern_message
from kit import i18n
from kit.errors import (
    PROBLEM_MEDIA_TYPE,
    AccordError,
    MalformedJson,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
    problem_body,
)
from kit.faults import problem_for


def request_id_of(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def problem_response(
    body: dict[str, Any], *, request_id: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The problem document in the request's language (``kit.i18n``): ``title`` from the
    catalogue (a title it does not hold stays as written); ``detail`` was written in it where
    it was raised. ``type`` and every other member stay as they are: programs match on them."""
    title = body.get("title")
    if isinstance(title, str):
        body = {**body, "title": i18n.gettext(title)}
    if request_id is not None:
        body = {**body, "request_id": request_id}
    return JSONResponse(
        body,
        status_code=body["status"],
        media_type=PROBLEM_MEDIA_TYPE,
        headers={**(headers or {}), **i18n.language_headers()},
    )


def render_error(error: AccordError, request_id: str | None) -> JSONResponse:
    return problem_response(error.problem(), request_id=request_id, headers=error.headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def validation_error(exc: RequestValidationError) -> AccordError:
    """Map FastAPI's validation errors to one entry per bad field, never echoing the input."""
    errors = list(exc.errors())
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "invalid JSON")
            return MalformedJson(
                i18n.gettext("The request body is not valid JSON (%(reason)s at character %(at)s).")
                % {"reason": reason, "at": error["loc"][-1]}
            )
    entries = [
        {"location": _location(e["loc"]), "message": _message(e), "type": e["type"]} for e in errors
    ]
    fields = ", ".join(entry["location"] for entry in entries)
    return ValidationFailed(
        i18n.ngettext(
            "%(num)d field is invalid: %(fields)s. See `errors` for what each one needs.",
            "%(num)d fields are invalid: %(fields)s. See `errors` for what each one needs.",
            len(entries),
        )
        % {"num": len(entries), "fields": fields},
        extra={"errors": entries},
    )


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return i18n.gettext(
            "Unknown field %(name)s: remove it (this operation does not accept it)."
        ) % {"name": repr(error["loc"][-1])}
    if error["type"] == "missing":
        return i18n.gettext("Field required.")
    return pattern_message(error) or str(error["msg"])


def http_error(exc: StarletteHTTPException) -> AccordError:
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return NotFound(
            i18n.gettext("No resource exists at this path. The API is described at /openapi.json."),
            headers=headers,
        )
    if exc.status_code == 405:
        allowed = headers.get("Allow", headers.get("allow", ""))
        return MethodNotAllowed(
            i18n.gettext("This path does not accept that method. Allowed: %(allowed)s.")
            % {"allowed": allowed or "none"},
            headers=headers,
        )
    if exc.status_code == 413:
        return PayloadTooLarge(str(exc.detail), headers=headers)
    return AccordError(str(exc.detail), headers=headers, status=exc.status_code)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_accord_error(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, AccordError):
            raise exc
        return render_error(exc, request_id_of(request))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, RequestValidationError):
            raise exc
        return render_error(validation_error(exc), request_id_of(request))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):
            raise exc
        return render_error(http_error(exc), request_id_of(request))

    async def on_contract_error(request: Request, exc: Exception) -> JSONResponse:
        # A domain refusal a service did not map itself (kit.faults) is still a refusal.
        if not isinstance(exc, ContractError):
            raise exc
        return render_error(problem_for(exc), request_id_of(request))

    app.add_exception_handler(AccordError, on_accord_error)
    app.add_exception_handler(ContractError, on_contract_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


__all__ = ["install_problem_handlers", "problem_body", "problem_response", "render_error"]
