"""Domain refusals from contracts leave the node as problems, in one shape, never as a 500."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from contracts.categories import CategoryDataInvalid
from contracts.consent import ConsentInvalid
from contracts.faults import Fault, FaultsError, InvalidTransition
from kit.faults import (
    CategoryDataRefused,
    ConsentRefused,
    DocumentInvalid,
    TransitionRefused,
    problem_for,
)
from kit.http.routing import api_router
from tests.support.markers import sqlite_only

FAULT = Fault(("given_by",), "a child's consent must be given by a guardian", "child_given_by_self")

probe = api_router(prefix="/probe")


@probe.post("/consent")
async def refuse_consent() -> None:
    raise ConsentInvalid([FAULT])


@probe.post("/transition")
async def refuse_transition() -> None:
    raise InvalidTransition("withdraw", "withdrawn", "consent 7f3a09c1… is already withdrawn")


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    app.include_router(probe)
    return app


@pytest.mark.parametrize(
    ("error", "kind", "slug"),
    [
        (ConsentInvalid([FAULT]), ConsentRefused, "consent-invalid"),
        (CategoryDataInvalid("identity", [FAULT]), CategoryDataRefused, "category-data-invalid"),
        (FaultsError([FAULT]), DocumentInvalid, "document-invalid"),
    ],
)
def test_each_kind_of_refused_document_has_its_problem_type(
    error: FaultsError, kind: type[DocumentInvalid], slug: str
) -> None:
    problem = problem_for(error, at=("body", "data")).problem()
    assert isinstance(problem_for(error), kind)
    assert problem["type"] == f"/problems/{slug}"
    assert problem["status"] == 422
    assert problem["errors"] == [
        {
            "location": "body.data.given_by",
            "message": FAULT.message,
            "code": "child_given_by_self",
            "type": "child_given_by_self",
        }
    ]
    assert "body.data.given_by" in problem["detail"]


def test_an_invalid_transition_is_a_conflict_naming_action_and_status() -> None:
    error = problem_for(InvalidTransition("sign", "draft", "agreement 3a5c0e1f… is a draft"))
    assert isinstance(error, TransitionRefused)
    problem = error.problem()
    assert (problem["status"], problem["action"], problem["current_status"]) == (
        409,
        "sign",
        "draft",
    )
    assert problem["detail"] == "agreement 3a5c0e1f… is a draft"


@sqlite_only
async def test_a_refusal_no_service_mapped_is_still_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe/consent")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["location"] == "body.given_by"
    response = await client.post("/probe/transition")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/invalid-transition"


@sqlite_only
async def test_the_new_problem_types_are_served(client: httpx.AsyncClient) -> None:
    listed = {p["type"] for p in (await client.get("/problems")).json()["items"]}
    assert {
        "/problems/document-invalid",
        "/problems/category-data-invalid",
        "/problems/consent-invalid",
        "/problems/invalid-transition",
    } <= listed
