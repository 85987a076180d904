"""Liveness, readiness and metrics tell operators the truth and nothing personal."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from services.app import create_app
from tests.support.app import make_settings, serving
from tests.support.markers import sqlite_only


async def test_healthz_says_the_process_is_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "database": "ok",
        "migrations": "head",
        "directory": "not configured",
    }


async def test_readyz_refuses_a_database_without_migrations(empty_database_url: str) -> None:
    app = create_app(make_settings(empty_database_url))
    async with serving(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "accord init" in response.json()["detail"]


async def test_readyz_refuses_an_unreachable_database() -> None:
    app = create_app(make_settings("postgresql://nobody@127.0.0.1:1/none"))
    async with serving(app) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["type"] == "/problems/service-unavailable"


@sqlite_only
async def test_metrics_label_routes_by_template_not_raw_path(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await client.get("/problems/payload-too-large")
    await client.get("/problems/not-found")
    await client.get("/nowhere/0193a5b2-secret")
    text = (await client.get("/metrics")).text
    assert (
        'accord_http_requests_total{method="GET",route="/problems/{slug}",status="200"} 2.0' in text
    )
    assert 'route="<unmatched>",status="404"' in text
    assert "payload-too-large" not in text
    assert "0193a5b2-secret" not in text
    assert "accord_http_request_duration_seconds_bucket" in text


@sqlite_only
async def test_metrics_answer_only_allowed_addresses_or_a_token(
    database_url: str, make_app
) -> None:
    app = make_app(make_settings(database_url, metrics_token="s3cret-scrape-token"))
    async with serving(app):

        async def scrape(peer: str, **headers: str) -> int:
            transport = httpx.ASGITransport(app=app, client=(peer, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as http:
                return (await http.get("/metrics", headers=headers)).status_code

        assert await scrape("127.0.0.1") == 200
        assert await scrape("::1") == 200
        assert await scrape("203.0.113.7") == 403
        assert await scrape("203.0.113.7", authorization="Bearer wrong") == 403
        assert await scrape("203.0.113.7", authorization="Bearer s3cret-scrape-token") == 200


def test_a_metrics_network_that_does_not_parse_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not a valid IPv4 or IPv6 network"):
        make_settings("sqlite://", metrics_allowed="10.0.0.0/8,intranet")
