"""/docs and /redoc come with their scripts and styles from the node itself: no page names
another host, and every asset it names is served here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import httpx
import pytest

from services.api_docs.endpoints import ASSETS, STATIC


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the pages read no database


def _references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:(]\s*["']([^"']+)["']""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_documentation_pages_load_nothing_from_another_host(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.IGNORECASE), html
    references = _references(html)
    assert references, "the page loads its script"
    for url in references:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "http" not in policy, "no other host is allowed to serve anything"


async def test_swagger_ui_keeps_its_oauth_redirect_and_pkce(client: httpx.AsyncClient) -> None:
    html = (await client.get("/docs")).text
    assert '"usePkceWithAuthorizationCodeGrant": true' in html
    assert "/docs/oauth2-redirect" in html
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200


async def test_only_the_listed_assets_are_served(client: httpx.AsyncClient) -> None:
    js = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("text/javascript")
    for name in ("swagger-ui-dist.LICENSE.txt", "..%2Fendpoints.py", "nothing.js"):
        missing = await client.get(f"/docs/assets/{name}")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_every_asset_is_in_the_package_and_ships_in_the_wheel() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    shipped = pyproject["tool"]["setuptools"]["package-data"]["*"]
    for name in ASSETS:
        assert (STATIC / name).stat().st_size > 0
        assert any(Path(name).match(pattern) for pattern in shipped), name
