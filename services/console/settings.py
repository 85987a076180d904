"""Each person's own settings: the console's language and the time zone it shows times in.

Anyone signed in may change their own, whatever their roles; nobody may change another's.
The language falls back to the browser's ``Accept-Language``, the time zone to the agency's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from auth.users import service as users
from kit import i18n
from kit.db.session import Session

from .access import SignedIn, Viewer
from .failures import Failure, attempt
from .render import console_router, page, see_other

router = console_router()

Person = Annotated[Viewer, SignedIn]


def _page(
    request: Request,
    viewer: Viewer,
    *,
    failure: Failure | None = None,
    form: dict[str, str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    return page(
        request,
        viewer,
        "settings.html",
        status_code=failure.status if failure else 200,
        title=i18n.gettext("Your settings"),
        languages=i18n.LANGUAGE_NAMES,
        browser_language=i18n.LANGUAGE_NAMES[
            i18n.negotiate(request.headers.get("accept-language"))
        ],
        form=form
        or {
            "language": viewer.language or "",
            "time_zone": viewer.time_zone if viewer.own_time_zone else "",
        },
        failure=failure,
        notice=notice,
    )


@router.get("/console/settings")
async def settings_page(request: Request, viewer: Person, done: str | None = None) -> HTMLResponse:
    return _page(request, viewer, notice=i18n.gettext("Saved.") if done == "saved" else None)


@router.post("/console/settings")
async def save_settings(
    request: Request,
    viewer: Person,
    session: Session,
    language: Annotated[str, Form()] = "",
    time_zone: Annotated[str, Form()] = "",
) -> Response:
    chosen = language.strip() or None
    zone = time_zone.strip() or None

    async def run() -> None:
        await users.set_preferences(
            session, principal=viewer.principal, language=chosen, time_zone=zone
        )

    failure = await attempt(session, run)
    if isinstance(failure, Failure):
        return _page(
            request, viewer, failure=failure, form={"language": language, "time_zone": time_zone}
        )
    return see_other("/console/settings?done=saved")
