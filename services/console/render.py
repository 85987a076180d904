"""Rendering console pages: one Jinja environment, the layout's context, and the error pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from contracts.faults import ContractError
from kit import i18n
from kit.errors import AccordError
from kit.i18n import jinja as i18n_jinja

from .access import ConsoleRefusal, SignInRequired, Viewer
from .failures import explain
from .names import Names
from .navigation import sections_for

TEMPLATES = i18n_jinja.install(
    Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


def utc_text(value: Any) -> str:
    moment = _as_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


@pass_context
def when(context: Context, value: Any) -> Markup:
    """A moment in the reader's time zone and language, with the UTC time on hover and in
    ``datetime`` for machines: ``<time datetime="…Z" title="2026-11-29 16:00 UTC">``."""
    moment = _as_datetime(value)
    if moment is None:
        return Markup("—")
    zone = context.get("time_zone") or "UTC"
    local = moment.astimezone(ZoneInfo(zone))
    words = i18n.locale(i18n.current_language())
    # The locale's medium date and short time (no seconds), joined as the locale joins them.
    shown = (
        str(words.datetime_formats["medium"])
        .replace("{1}", format_date(local, "medium", locale=words))
        .replace("{0}", format_time(local, "short", locale=words))
    )
    if zone != "UTC":
        shown = f"{shown} ({zone})"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), utc_text(moment), shown
    )


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 2 * 86400:
        days = int(seconds // 86400)
        return i18n.ngettext("%(num)d day", "%(num)d days", days) % {"num": days}
    if seconds >= 2 * 3600:
        hours = int(seconds // 3600)
        return i18n.ngettext("%(num)d hour", "%(num)d hours", hours) % {"num": hours}
    minutes = max(1, int(seconds // 60))
    return i18n.ngettext("%(num)d minute", "%(num)d minutes", minutes) % {"num": minutes}


def due(value: Any) -> str:
    """A deadline as a person reads it: "in 3 days" or "overdue by 5 hours"."""
    moment = _as_datetime(value)
    if moment is None:
        return i18n.gettext("no deadline")
    left = (moment - datetime.now(UTC)).total_seconds()
    if left >= 0:
        return i18n.gettext("in %(span)s") % {"span": _span(left)}
    return i18n.gettext("overdue by %(span)s") % {"span": _span(left)}


def is_overdue(value: Any) -> bool:
    moment = _as_datetime(value)
    return moment is not None and moment < datetime.now(UTC)


def words(value: Any) -> str:
    return str(value or "").replace("_", " ")


def said(value: Any, key: str | None = None) -> str | None:
    """``said(TABLE, key)``: the message a table marked with ``N_`` holds for ``key``, in the
    reader's language, or None where it holds none (a key from a URL is never echoed).
    ``said(value)``: see :func:`said_word`."""
    if isinstance(value, dict):
        return i18n.gettext(value[key]) if key in value else None
    return said_word(value)


def said_word(value: Any) -> str:
    """A word the console shows from data (a status, a stage title) in the reader's language
    where the catalogue holds it; as written (``words``) where it does not, as for the stage
    titles of an SOP an agency wrote itself."""
    shown = words(value)
    return i18n.gettext(shown) if shown else shown


@pass_context
def binding(context: Context, value: Any) -> Markup:
    """Who acts for a role, each agency by name with its slug on hover (``who``): "IOM",
    "IOM (alternates: UNHCR)", "SRB: Serbia's authority · XKX: Kosovo's authority"."""
    if isinstance(value, dict):
        return Markup(" · ").join(
            Markup("{}: {}").format(country, binding(context, slugs))
            for country, slugs in value.items()
        )
    if isinstance(value, list):
        first, *others = value or [""]
        if not others:
            return who(context, first)
        alternates = escape(i18n.gettext("(alternates: %(others)s)")) % {
            "others": Markup(", ").join(who(context, other) for other in others)
        }
        return Markup("{} {}").format(who(context, first), alternates)
    return who(context, value)


@pass_context
def who(context: Context, value: Any) -> Markup:
    """An agency, user or API client by name with its id on hover, through the page's
    ``names`` (:mod:`services.console.names`); the id alone where the page has no name for it."""
    ref = str(value or "")
    names = context.get("names")
    shown = names.name_of(ref) if isinstance(names, Names) else ref
    if shown == ref:
        return escape(ref)
    return Markup('<span title="{}">{}</span>').format(ref, shown)


TEMPLATES.filters.update(
    when=when, utc=utc_text, due=due, words=words, said=said_word, binding=binding, who=who
)
TEMPLATES.tests["overdue"] = is_overdue


def page(
    request: Request,
    viewer: Viewer | None,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(
        request_path=request.url.path,
        viewer=viewer,
        sections=sections_for(viewer) if viewer else [],
        time_zone=viewer.time_zone if viewer else "UTC",
        **i18n_jinja.page_language(),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=i18n.language_headers())


def see_other(location: str) -> RedirectResponse:
    """After a successful form post: the browser loads the result with GET (PRG)."""
    return RedirectResponse(location, status_code=303)


def _error_page(
    request: Request, status: int, title: str, message: str, reasons: list[str]
) -> HTMLResponse:
    return page(
        request,
        getattr(request.state, "console_viewer", None),
        "error.html",
        status_code=status,
        title=title,
        message=message,
        reasons=reasons,
    )


class ConsoleRoute(APIRoute):
    """Console routes answer in HTML: a sign-in redirect, or an error page in words."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return RedirectResponse(exc.location, status_code=303)
            except ConsoleRefusal as exc:
                return _error_page(request, exc.status, exc.title, exc.message, [])
            except RequestValidationError:
                return _error_page(
                    request,
                    404,
                    i18n.gettext("Not found"),
                    i18n.gettext(
                        "This address does not name anything in the console. Check the link."
                    ),
                    [],
                )
            except (AccordError, ContractError) as exc:
                failure = explain(exc)
                return _error_page(
                    request,
                    failure.status,
                    i18n.gettext(failure.title),
                    failure.detail,
                    failure.reasons,
                )

        return html_errors


def console_router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=ConsoleRoute, include_in_schema=False, **kwargs)
