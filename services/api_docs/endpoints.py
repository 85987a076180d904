"""``/docs`` (Swagger UI) and ``/redoc`` with their scripts and styles served by the node
itself: a node on a closed network, or a browser that blocks third-party hosts, still shows
them, and no CDN learns who reads a node's API documentation.

The assets are vendored, unmodified, from the npm registry's ``swagger-ui-dist`` 5.35.0 and
``redoc`` 2.5.4 packages (their licences beside them in ``static/``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from kit.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/docs/assets"
#: The only files served, with their media types: nothing else under static/ is reachable.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
#: Scripts and styles of the pages come from this node; Swagger UI's and ReDoc's bootstrap
#: is one inline script, and ReDoc renders in a worker it starts from a blob.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'"
)

router = APIRouter(include_in_schema=False)


def _secured(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return _secured(
        get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title=f"{app.title} - API documentation",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            oauth2_redirect_url=str(app.swagger_ui_oauth2_redirect_url),
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return _secured(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return _secured(
        get_redoc_html(
            openapi_url=str(app.openapi_url),
            title=f"{app.title} - API reference",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            with_google_fonts=False,
        )
    )


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("No such documentation asset.")
    # Versioned by the release that ships them: a day's caching spares poor links.
    return FileResponse(
        STATIC / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
