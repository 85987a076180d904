"""The language of each request, from its ``Accept-Language`` header (``kit.i18n``).

A pure ASGI middleware: the language is a context variable set before anything else runs, so
problem documents, including the last-resort 500, are written in it. The console may set it
again from the signed-in person's own choice.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from kit import i18n


class LanguageMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"accept-language"),
            None,
        )
        with i18n.speaking(i18n.negotiate(header)):
            await self.app(scope, receive, send)
