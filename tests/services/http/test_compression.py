"""Responses above 1 KB travel gzip-compressed to a client that accepts it, for links where every
kilobyte counts; smaller ones, and clients that do not ask, get the bytes as they are."""

from __future__ import annotations

import gzip

import httpx

from tests.support.markers import sqlite_only

pytestmark = sqlite_only

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}


async def test_a_response_above_1_kb_is_compressed_when_the_client_accepts_gzip(
    client: httpx.AsyncClient,
) -> None:
    request = client.build_request("GET", "/problems", headers=GZIP)
    response = await client.send(request, stream=True)
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert int(response.headers["content-length"]) == len(raw)
    plain = gzip.decompress(raw)
    assert len(plain) > 1024
    assert len(raw) < len(plain)
    assert plain.startswith(b"[") or plain.startswith(b"{")


async def test_nothing_is_compressed_below_1_kb_or_for_a_client_that_does_not_ask(
    client: httpx.AsyncClient,
) -> None:
    small = await client.get("/healthz", headers=GZIP)
    assert small.status_code == 200
    assert "content-encoding" not in small.headers
    assert len(small.content) < 1024

    plain = await client.get("/problems", headers=IDENTITY)
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 1024


async def test_compressed_console_files_keep_their_security_headers_and_request_id(
    client: httpx.AsyncClient,
) -> None:
    sheet = await client.get("/console/console.css", headers={**GZIP, "X-Request-Id": "req-42"})
    assert sheet.status_code == 200
    assert sheet.headers["content-encoding"] == "gzip"
    assert sheet.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in sheet.headers["content-security-policy"]
    assert sheet.headers["cache-control"].startswith("public")
    assert sheet.headers["x-request-id"] == "req-42"
    assert "{" in sheet.text, "decoded as CSS"


async def test_metrics_are_still_scraped_compressed_or_not(client: httpx.AsyncClient) -> None:
    await client.get("/problems")
    compressed = await client.get("/metrics", headers=GZIP)
    assert compressed.status_code == 200
    assert compressed.headers["content-encoding"] == "gzip"
    assert "/problems" in compressed.text
    plain = await client.get("/metrics", headers=IDENTITY)
    assert "content-encoding" not in plain.headers
    assert "/problems" in plain.text
