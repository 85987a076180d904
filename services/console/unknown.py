"""Any other address under /console: a page in words, not the API's JSON problem."""

from __future__ import annotations

from kit import i18n

from .access import ConsoleRefusal
from .render import console_router

router = console_router()


@router.api_route("/console/{rest:path}", methods=["GET", "HEAD", "POST"])
async def unknown() -> None:
    raise ConsoleRefusal(
        404,
        i18n.gettext("Not found"),
        i18n.gettext("This address does not name anything in the console. Check the link."),
    )
