"""Who is signed in to the console, and whether they may see a page or submit a form.

A console route declares its need with ``ConsoleRequires(scope=..., role=...)``: the same scope
and roles the API route it stands for declares. The person's scopes are those their roles allow
(``auth.scopes.ROLE_SCOPES``), exactly what a token from the console's sign-in would carry.
Every POST must carry the session's CSRF token: the session cookie is SameSite=Lax, which keeps
most cross-site posts out, and the token keeps out the rest. Pages carry it masked afresh each
time (``auth.csrf``), so that compressed pages cannot leak it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request

from auth import csrf
from auth.principal import Principal
from auth.scopes import scopes_for_roles
from auth.sessions import SESSION_COOKIE, current_session
from kit import i18n
from kit.db.session import Session
from kit.http.state import settings_of
from services.agencies.models import Agency


class SignInRequired(Exception):
    """No live console session: the person is sent to sign in and brought back afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path

    @property
    def location(self) -> str:
        return f"/console/login?{urlencode({'next': self.next_path})}"


class ConsoleRefusal(Exception):
    """A page the person may not see or a form the console will not take, said in words."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, as plain values: pages render it after a rolled-back action too."""

    principal: Principal
    email: str
    display_name: str
    #: The session's CSRF secret; pages carry ``csrf_token``, never this.
    csrf_secret: str
    #: The language the person chose, or None: their browser's ``Accept-Language`` decides.
    language: str | None = None
    #: The IANA time zone times are shown in: the person's own, else their agency's.
    time_zone: str = "UTC"
    #: The person chose ``time_zone`` (rather than inheriting the agency's).
    own_time_zone: bool = False
    #: Their agency's name, shown in the page header with the slug on hover (issue 17).
    agency_name: str = ""

    @property
    def agency(self) -> str:
        return self.principal.agency

    @property
    def roles(self) -> frozenset[str]:
        return self.principal.roles

    def has_role(self, *roles: str) -> bool:
        return self.principal.has_any_role(frozenset(roles))

    @property
    def csrf_token(self) -> str:
        """The token a form carries: masked afresh each time it is rendered (BREACH;
        ``auth.csrf``), so templates keep writing ``{{ viewer.csrf_token }}``."""
        return csrf.mask(self.csrf_secret)


async def viewer_of(request: Request, session: Session) -> Viewer | None:
    """The person behind the request's session cookie, or None."""
    found = await current_session(
        session, request.cookies.get(SESSION_COOKIE), settings_of(request)
    )
    if found is None:
        return None
    user, row = found
    roles = frozenset(user.roles)
    agency = await session.get(Agency, user.agency)
    own_zone = i18n.valid_time_zone(user.time_zone)
    return Viewer(
        principal=Principal(
            agency=user.agency,
            kind="user",
            subject=str(user.id),
            client_id="accord-console",
            roles=roles,
            data_roles=frozenset(user.data_roles),
            scopes=scopes_for_roles(roles),
            token_id=f"console:{row.id_hash[:16]}",
        ),
        email=user.email,
        display_name=user.display_name,
        csrf_secret=row.csrf_token,
        language=i18n.supported(user.language),
        time_zone=own_zone or i18n.valid_time_zone(agency.time_zone if agency else None) or "UTC",
        own_time_zone=own_zone is not None,
        agency_name=agency.name if agency else user.agency,
    )


def _return_path(request: Request) -> str:
    if request.method != "GET":
        return "/console"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


class ConsoleRequirement:
    """A console route's declared need: one scope, and at least one of some roles."""

    def __init__(self, scope: str | None, roles: frozenset[str]) -> None:
        self.scope = scope
        self.roles = roles

    async def __call__(self, request: Request, session: Session) -> Viewer:
        viewer = await viewer_of(request, session)
        if viewer is None:
            raise SignInRequired(_return_path(request))
        request.state.console_viewer = viewer
        # The person's own choice of language beats their browser's (kit.i18n).
        if viewer.language is not None:
            i18n.set_language(viewer.language)
        if request.method == "POST":
            form = await request.form()
            if not csrf.accepts(form.get("csrf_token"), viewer.csrf_secret):
                raise ConsoleRefusal(
                    403,
                    i18n.gettext("The form was not accepted"),
                    i18n.gettext(
                        "The form expired or did not come from this console. Go back, reload "
                        "the page and submit it again."
                    ),
                )
        if self.scope is None:
            return viewer
        if not viewer.principal.has_scope(self.scope) or not viewer.has_role(*self.roles):
            needed = " or ".join(role.replace("_", " ") for role in sorted(self.roles))
            raise ConsoleRefusal(
                403,
                i18n.gettext("Not part of your role"),
                i18n.gettext(
                    "This needs the role %(roles)s at %(agency)s. "
                    "Ask your agency's admin if you need it."
                )
                % {"roles": needed, "agency": viewer.agency},
            )
        return viewer

    def __repr__(self) -> str:
        return f"ConsoleRequires(scope={self.scope!r}, roles={sorted(self.roles)!r})"


def ConsoleRequires(*, scope: str, role: str | Iterable[str]) -> Any:
    roles = frozenset([role] if isinstance(role, str) else role)
    return Depends(ConsoleRequirement(scope, roles))


#: Anyone signed in to the console, whatever their roles: their own settings.
SignedIn = Depends(ConsoleRequirement(None, frozenset()))
