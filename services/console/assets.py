"""The console's stylesheet, served as a file: the Content-Security-Policy allows no inline
style or script, and one cacheable file serves every page."""

from __future__ import annotations

from pathlib import Path

from fastapi import Response

from kit.http.routing import api_router

router = api_router(tags=["console"], include_in_schema=False)
_STYLESHEET = (Path(__file__).parent / "templates" / "console.css").read_bytes()


@router.get("/console/console.css")
async def stylesheet() -> Response:
    return Response(
        _STYLESHEET,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )
