"""Driving the console as a browser does: sign in with the form, then post forms that carry
the session's CSRF token."""

from __future__ import annotations

import re

import httpx

from tests.support.identity import SeededUser, sign_in


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def signed_in(http: httpx.AsyncClient, user: SeededUser) -> str:
    """Sign ``user`` in on ``http`` (its cookie jar keeps the session); their CSRF token."""
    response = await sign_in(http, user)
    assert response.status_code == 303, response.text
    home = await http.get("/console", follow_redirects=True)
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


async def submit(http: httpx.AsyncClient, path: str, csrf: str, **fields: str) -> httpx.Response:
    return await http.post(path, data={"csrf_token": csrf, **fields})
