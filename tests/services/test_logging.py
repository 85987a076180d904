"""Logs are JSON lines; every line written while serving a request carries its request id."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.markers import sqlite_only


@sqlite_only
async def test_every_request_line_is_json_with_the_request_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = await client.get("/readyz", headers={"x-request-id": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    request_lines = [line for line in lines if line.get("event") == "request"]
    assert request_lines == [
        {
            "event": "request",
            "method": "GET",
            "route": "/readyz",
            "status": 200,
            "duration_ms": request_lines[0]["duration_ms"],
            "request_id": "req-42",
            "level": "info",
            "logger": "accord.http",
            "timestamp": request_lines[0]["timestamp"],
        }
    ]


@sqlite_only
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"x-request-id": "a b\nforged"})
    assert response.headers["x-request-id"] != "a b\nforged"
    assert len(response.headers["x-request-id"]) == 32


async def test_stack_trace_goes_to_the_log_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    from kit.observability.logging import configure_logging, get_logger

    configure_logging(level="INFO", json=True)
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("accord.test").exception("failed")
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"failed"' in x]
    assert line["exception"][0]["exc_type"] == "ValueError"


def test_stack_traces_never_carry_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    """Locals of a failing frame hold request bodies and tokens: they stay out of the log."""
    from kit.observability.logging import configure_logging, get_logger

    configure_logging(level="INFO", json=True)
    secret_token = "Bearer eyJhbGciOiJFZERTQSJ9.secret"  # noqa: F841 - a local the log must not see
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("accord.test").exception("failed")
    out = capsys.readouterr().out
    assert "eyJhbGciOiJFZERTQSJ9" not in out
    assert '"locals"' not in out
