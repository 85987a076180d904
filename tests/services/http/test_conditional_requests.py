"""GET on the API's lists and details carries a strong ETag of the bytes sent; a client that
sends it back in If-None-Match gets 304 and no body while nothing changed. Only private caches
may keep a copy, and only to revalidate it first: the bodies are about people."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from kit.settings import Settings
from tests.support.federation import member_settings
from tests.support.markers import sqlite_only
from tests.support.referrals import ROOT, Exchange, exchange

pytestmark = sqlite_only

#: A quoted SHA-256, base64url without padding (RFC 9110 §8.8.3: a strong entity tag).
STRONG = re.compile(r'^"[A-Za-z0-9_-]{43}"$')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return member_settings(database_url, tmp_path, ROOT)


@pytest.fixture
async def ex(app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> Exchange:
    return await exchange(app, client, tmp_path)


async def _revalidated(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> str:
    first = await client.get(path, headers=headers)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert STRONG.match(etag), etag
    assert first.headers["cache-control"] == "private, no-cache"

    again = await client.get(path, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "private, no-cache"
    assert "content-type" not in again.headers
    assert again.headers.get("content-length", "0") == "0"

    listed = await client.get(path, headers={**headers, "If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304, "any tag of the list matches"
    weak = await client.get(path, headers={**headers, "If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304, "If-None-Match compares weakly (RFC 9110 §13.1.2)"
    stale = await client.get(path, headers={**headers, "If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == first.content
    return etag


async def test_a_list_and_a_detail_answer_304_while_unchanged_and_200_after_a_change(
    client: httpx.AsyncClient, ex: Exchange
) -> None:
    caseworker = ex.people["unhcr_caseworker"]
    draft = await ex.draft()
    listed = await _revalidated(client, "/v1/referrals", caseworker)
    detail = await _revalidated(client, f"/v1/referrals/{draft['id']}", caseworker)
    await _revalidated(client, f"/v1/agreements/{ex.agreement_id}", ex.people["unhcr_admin"])
    await _revalidated(client, f"/v1/cases/{ex.case_id}", caseworker)

    approved = await client.post(
        f"/v1/referrals/{draft['id']}/approve", headers=ex.people["unhcr_focal_point"]
    )
    assert approved.status_code == 200, approved.text
    for path, etag in (("/v1/referrals", listed), (f"/v1/referrals/{draft['id']}", detail)):
        changed = await client.get(path, headers={**caseworker, "If-None-Match": etag})
        assert changed.status_code == 200, path
        assert changed.headers["etag"] != etag


async def test_errors_carry_no_etag_and_are_never_304(
    client: httpx.AsyncClient, ex: Exchange
) -> None:
    missing = await client.get(
        f"/v1/referrals/{uuid.uuid4()}",
        headers={**ex.people["unhcr_caseworker"], "If-None-Match": "*"},
    )
    assert missing.status_code == 404
    assert "etag" not in missing.headers
    signed_out = await client.get("/v1/referrals", headers={"If-None-Match": "*"})
    assert signed_out.status_code == 401
    assert "etag" not in signed_out.headers


async def test_the_tag_names_the_encoding_sent(client: httpx.AsyncClient, ex: Exchange) -> None:
    # A strong tag names one representation: the gzip bytes and the plain bytes differ.
    headers = ex.people["unhcr_caseworker"]
    for _ in range(4):  # a list above 1 KB, so that it is compressed
        await ex.draft()
    zipped = await client.get("/v1/referrals", headers={**headers, "Accept-Encoding": "gzip"})
    plain = await client.get("/v1/referrals", headers={**headers, "Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped.headers["etag"] != plain.headers["etag"]
    crossed = await client.get(
        "/v1/referrals",
        headers={**headers, "Accept-Encoding": "identity", "If-None-Match": zipped.headers["etag"]},
    )
    assert crossed.status_code == 200
    same = await client.get(
        "/v1/referrals",
        headers={**headers, "Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]},
    )
    assert same.status_code == 304, "compressing the same bytes again gives the same bytes"
    assert "content-encoding" not in same.headers
    assert "accept-encoding" in same.headers["vary"].lower()


async def test_console_pages_stay_uncached_and_untagged(client: httpx.AsyncClient) -> None:
    login = await client.get("/console/login")
    assert login.headers["cache-control"] == "no-store"
    assert "etag" not in login.headers
