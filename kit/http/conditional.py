"""Conditional GET for the API's JSON (RFC 9110 §13.1.2): a strong ETag of the bytes sent, and
304 with no body when the client already holds them. On a slow or metered link a client that
polls a list or a referral pays for a few headers instead of the whole document.

The handler still runs on a 304: authorization is checked and an audited read is recorded as
on a 200, because the tag is computed from the body the handler produced. Only the transfer is
saved. Since the tag is the bytes' hash, a 304 can only ever confirm a copy identical to what
this caller would be sent now, whoever cached it.

It sits outside the compression middleware, so the tag covers the bytes as encoded: a gzip
body and a plain one are different representations and carry different strong tags (RFC 9110
§8.8.3.3). Compression is deterministic (zlib writes no time stamp), so the tag is stable.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Bodies about people: a browser or client may keep a copy, but must revalidate it before use;
#: no shared cache keeps one at all (RFC 9111 §5.2.2.4, §5.2.2.7).
CACHE_CONTROL = "private, no-cache"
_ENTITY_TAG = re.compile(r'(?:W/)?("[^"]*")')
#: What a 304 leaves out: the headers that describe a body it does not have (RFC 9110 §15.4.5).
_BODY_HEADERS = ("content-type", "content-length", "content-encoding")


def entity_tag(body: bytes) -> str:
    """A strong tag: the SHA-256 of the bytes, base64url without padding, quoted."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=")
    return f'"{digest.decode("ascii")}"'


def none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag``: weak comparison, as RFC 9110 §13.1.2 asks."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return etag in _ENTITY_TAG.findall(header)


def _is_json(headers: Headers) -> bool:
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class ConditionalGet:
    """Tags every 200 JSON answer to a GET under ``prefixes``, and answers 304 on a match.

    Errors are never tagged (a 404 or 401 is not a representation to revalidate), and a body
    sent in several parts passes through untouched: it is streamed, not a document to hash.
    """

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...] = ("/v1/",)) -> None:
        self.app = app
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not str(scope.get("path", "")).startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return

        if_none_match = Headers(scope=scope).get("if-none-match")
        held: Message | None = None

        async def send_tagged(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] == 200 and _is_json(Headers(raw=message.get("headers", []))):
                    held = message  # sent with the body, once its tag is known
                    return
            elif message["type"] == "http.response.body" and held is not None:
                start, held = held, None
                if not message.get("more_body", False):
                    await _answer(send, start, message.get("body", b""), if_none_match)
                    return
                await send(start)
            await send(message)

        await self.app(scope, receive, send_tagged)


async def _answer(send: Send, start: Message, body: bytes, if_none_match: str | None) -> None:
    headers = MutableHeaders(scope=start)
    etag = headers.get("etag") or entity_tag(body)
    headers["ETag"] = etag
    headers.setdefault("Cache-Control", CACHE_CONTROL)
    if none_match(if_none_match, etag):
        for name in _BODY_HEADERS:
            del headers[name]
        start["status"] = 304
        body = b""
    await send(start)
    await send({"type": "http.response.body", "body": body})
