"""Password sign-in for people: the console's login, which /oauth/authorize also relies on.

A minimal page here; the console styles its own around the same session machinery.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from auth import csrf, throttle
from auth.dependencies import NodePasswords
from auth.models import User
from auth.sessions import SESSION_COOKIE, close_session, current_session, open_session
from auth.throttle import Throttle
from auth.users import repository as users
from kit import i18n
from kit.db.session import Session, database, read_only
from kit.http.client_address import client_address
from kit.http.routing import api_router
from kit.i18n import jinja as i18n_jinja

router = api_router(tags=["console"], include_in_schema=False)
LOGIN_CSRF_COOKIE = "accord_login_csrf"
# The page is in the language the browser asks for (``kit.http.language``): nobody is signed in.
_templates = i18n_jinja.install(
    Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )
)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after sign-in would hand sessions to phishers."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/console"
    return target


async def _account(request: Request, email: str) -> User | None:
    """Looked up in a short read-only transaction of its own, so that no transaction stays
    open (on SQLite, holding the write lock) while the password is checked."""
    async with database(request).sessions() as lookup:
        await read_only(lookup)
        return await users.by_email(lookup, email)


def _secure(request: Request) -> bool:
    return str(request.app.state.settings.public_url).startswith("https://")


def _page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    email: str = "",
    next_path: str = "/console",
) -> HTMLResponse:
    # A new token for every page (double-submit, checked against the cookie): no secret repeats
    # from one compressed response to the next, so it needs no mask (``auth.csrf``).
    token = secrets.token_urlsafe(24)
    html = _templates.get_template("login.html").render(
        csrf_token=token, error=error, email=email, next=next_path, **i18n_jinja.page_language()
    )
    response = HTMLResponse(html, status_code=status, headers=i18n.language_headers())
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/console/login",
    )
    return response


_STYLESHEET = (Path(__file__).parent / "templates" / "login.css").read_bytes()


@router.get("/console/login.css")
async def login_stylesheet() -> Response:
    return Response(
        _STYLESHEET,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/console/login")
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return _page(request, next_path=_safe_next(next))


@router.post("/console/login")
async def login(
    request: Request,
    session: Session,
    passwords: NodePasswords,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console",
) -> Response:
    target = _safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return _page(
            request,
            status=403,
            error=i18n.gettext("The form expired. Please sign in again."),
            next_path=target,
        )
    normalized = email.strip().lower()
    guard: Throttle = request.app.state.throttle
    attempt = await guard.admit(
        database(request), account=f"user:{normalized}", address=client_address(request)
    )
    if attempt.locked_for is not None:
        page = _page(
            request,
            status=429,
            email=normalized,
            next_path=target,
            error=i18n.ngettext(
                "Too many failed attempts. Try again in %(num)d second.",
                "Too many failed attempts. Try again in %(num)d seconds.",
                attempt.locked_for,
            )
            % {"num": attempt.locked_for},
        )
        page.headers["Retry-After"] = str(attempt.locked_for)
        return page
    found = await _account(request, normalized)
    verified = await passwords.verify(found.password_hash if found else None, password)
    user, rehashed = None, None
    if found is not None and verified:
        # Hashed before the request's transaction begins: on SQLite that holds the write lock.
        rehashed = (
            await passwords.hash(password) if passwords.needs_rehash(found.password_hash) else None
        )
        user = await session.get(User, found.id)
    if user is None or user.disabled:
        # The attempt stays recorded: it is a failure.
        return _page(
            request,
            status=401,
            email=normalized,
            next_path=target,
            error=i18n.gettext("The email or password is not right."),
        )
    await throttle.succeeded(session, attempt)
    if rehashed is not None:
        user.password_hash = rehashed
    cookie = await open_session(session, user, request.app.state.settings)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
        max_age=request.app.state.settings.session_absolute_seconds,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/console/logout")
async def logout(
    request: Request, session: Session, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    found = await current_session(session, cookie, request.app.state.settings)
    if found is not None and not csrf.accepts(csrf_token, found[1].csrf_token):
        # Another site cannot sign a person out: the form must come from the console.
        return _page(
            request,
            status=403,
            error=i18n.gettext(
                "The sign-out form did not come from this console; you are still signed in."
            ),
        )
    await close_session(session, cookie)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
