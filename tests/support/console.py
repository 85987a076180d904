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


def section(html: str, heading_id: str) -> str:
    """The ``<section aria-labelledby=heading_id>`` of a page, to assert on one part of it."""
    found = re.search(rf'<section aria-labelledby="{heading_id}".*?</section>', html, re.S)
    assert found, f"the page has no section {heading_id}"
    return found.group(0)


def assert_named(fragment: str, ref: str, name: str) -> None:
    """``ref`` (a slug or id) is shown as ``name``, the ref itself only on hover or in a link
    (issue 17: names, not slugs)."""
    assert f'<span title="{ref}">{name}</span>' in fragment, f"{ref} is not shown as {name}"
    bare = re.sub(r'(title|href)="[^"]*"', "", fragment)
    assert not re.search(rf"(?<![\w-]){re.escape(ref)}(?![\w-])", bare), f"{ref} shown bare"
