"""Every error leaves the node as an RFC 9457 problem document, and never as a partial write."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field
from sqlalchemy import select

from kit.db.session import Session
from kit.errors import Conflict
from kit.http.routing import api_router
from kit.http.schemas import RequestModel
from services.agencies.models import Agency

PROBLEM = "application/problem+json"
SECRET = "Amina-Haddad-1990-05-02"


class Item(RequestModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=0)
    tags: list[str] = []


probe = api_router(prefix="/probe")


@probe.post("/items", status_code=201)
async def create_item(item: Item) -> Item:
    return item


@probe.post("/boom")
async def boom(item: Item) -> None:
    raise RuntimeError(f"failed while handling {item.name}")


@probe.post("/agencies/{slug}", status_code=201)
async def write_agency(slug: str, session: Session) -> dict[str, str]:
    session.add(Agency(slug=slug, name=slug.upper()))
    await session.flush()
    return {"slug": slug}


@probe.post("/agencies/{slug}/then-fail")
async def write_agency_then_fail(slug: str, session: Session) -> None:
    session.add(Agency(slug=slug, name=slug.upper()))
    await session.flush()
    raise Conflict("refused after writing")


@probe.post("/agencies/{slug}/then-crash")
async def write_agency_then_crash(slug: str, session: Session) -> None:
    session.add(Agency(slug=slug, name=slug.upper()))
    await session.flush()
    raise RuntimeError("bug after writing")


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    app.include_router(probe)
    return app


def assert_problem(response: httpx.Response, status: int, type_slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{type_slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_valid_body_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe/items", json={"name": "a", "count": 1})
    assert response.status_code == 201
    assert response.json() == {"name": "a", "count": 1, "tags": []}


async def test_validation_error_has_one_entry_per_bad_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe/items", json={"name": "", "count": -1, "tags": "x"})
    body = assert_problem(response, 422, "validation-error")
    locations = {error["location"] for error in body["errors"]}
    assert locations == {"body.name", "body.count", "body.tags"}
    assert all(error["message"] for error in body["errors"])
    assert "body.count" in body["detail"]


async def test_missing_field_is_named(client: httpx.AsyncClient) -> None:
    body = assert_problem(
        await client.post("/probe/items", json={"name": "a"}), 422, "validation-error"
    )
    assert body["errors"] == [
        {"location": "body.count", "message": "Field required.", "type": "missing"}
    ]


async def test_unknown_field_is_refused_and_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe/items", json={"name": "a", "count": 1, "categores": []})
    body = assert_problem(response, 422, "validation-error")
    [error] = body["errors"]
    assert error["location"] == "body.categores"
    assert "categores" in error["message"]


async def test_validation_error_does_not_echo_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe/items", json={"name": SECRET, "count": SECRET})
    assert_problem(response, 422, "validation-error")
    assert SECRET not in response.text


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/probe/items", content=b'{"name": "a",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400, "malformed-json")
    assert "not valid JSON" in body["detail"]


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/probe/items",
        content=b"name=a&count=1",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    body = assert_problem(response, 415, "unsupported-media-type")
    assert "application/json" in body["detail"]


async def test_body_without_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe/items", content=b'{"name": "a", "count": 1}')
    assert_problem(response, 415, "unsupported-media-type")


async def test_json_subtypes_are_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/probe/items",
        content=json.dumps({"name": "a", "count": 1}),
        headers={"content-type": "application/merge-patch+json; charset=utf-8"},
    )
    assert response.status_code == 201


async def test_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/probe/items")
    body = assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"
    assert "POST" in body["detail"]


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'", "count": 1}'
    response = await client.post(
        "/probe/items", content=big, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 413, "payload-too-large")
    assert "1048576" in body["detail"]


async def test_streamed_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    """A chunked body has no Content-Length; the limit is enforced while it streams in."""

    async def chunks():
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'", "count": 1}'

    response = await client.post(
        "/probe/items", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")


async def test_body_limit_is_a_setting(tmp_path, database_url: str, make_app) -> None:
    from tests.support.app import make_settings, serving

    small = make_app(make_settings(database_url, max_body_bytes=64))
    small.include_router(probe)
    async with serving(small) as http:
        response = await http.post("/probe/items", json={"name": "x" * 100, "count": 1})
    assert_problem(response, 413, "payload-too-large")


async def test_unhandled_exception_is_500_without_stack_or_input(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.post("/probe/boom", json={"name": SECRET, "count": 1})
    body = assert_problem(response, 500, "internal-error")
    assert body["request_id"] in body["detail"]
    assert SECRET not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    [record] = [r for r in caplog.records if r.name == "accord.http" and r.levelno == logging.ERROR]
    assert record.exc_info is not None, "the stack trace belongs in the log"


async def test_successful_request_commits(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert (await client.post("/probe/agencies/iom")).status_code == 201
    assert await _agency_slugs(app) == ["iom"]


async def test_refused_request_rolls_back(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert_problem(await client.post("/probe/agencies/iom/then-fail"), 409, "conflict")
    assert await _agency_slugs(app) == []


async def test_crashed_request_rolls_back(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert_problem(await client.post("/probe/agencies/iom/then-crash"), 500, "internal-error")
    assert await _agency_slugs(app) == []


async def test_problem_types_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/problems/payload-too-large")
    assert response.status_code == 200
    assert response.json()["status"] == 413
    listed = {p["type"] for p in (await client.get("/problems")).json()["items"]}
    assert {"/problems/validation-error", "/problems/internal-error"} <= listed
    assert_problem(await client.get("/problems/no-such-thing"), 404, "not-found")


async def _agency_slugs(app: FastAPI) -> list[str]:
    async with app.state.db.sessions() as session:
        return list((await session.scalars(select(Agency.slug))).all())
