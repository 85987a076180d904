"""A principal of one agency can never read or change another agency's rows on a shared node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from auth.public import PUBLIC_ROUTES
from auth.scopes import ALL_ROLES, ALL_SCOPES
from kit.db.session import Database
from kit.http.routing import operations
from kit.settings import Settings
from tests.support.app import make_settings
from tests.support.federation import join, new_root_key, root_setting
from tests.support.identity import bearer, client_token, seed_client
from tests.support.matrix import ROUTE_CASES, Case
from tests.support.shared_app import SharedNodes
from tests.support.worker import WorkerDatabase

ROOT = new_root_key()


def _settings(database_url: str, directory: Path) -> Settings:
    """The node belongs to a federation, so routes that send messages can succeed."""
    return make_settings(
        database_url,
        directory=str(directory / "directory.json"),
        directory_root_key=root_setting(ROOT),
    )


async def _join(app: FastAPI) -> None:
    directory = Path(app.state.settings.directory)
    await join(app, directory, ROOT, "http://127.0.0.1:8000", ["unhcr", "iom", "ilo"])


@pytest.fixture(scope="module")
def shared_nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedNodes]:
    """UNHCR, IOM and ILO joined once per backend, and one app for every test: each test's
    rows are still its own, rolled back when it ends (``tests.support.shared_app``)."""
    shared = SharedNodes(request, tmp_path_factory, _settings, _join)
    yield shared
    shared.close()


@pytest.fixture
def shared_database(backend: str, shared_nodes: SharedNodes) -> WorkerDatabase:
    return shared_nodes.of(backend).database


@pytest.fixture
def app(backend: str, shared_nodes: SharedNodes, bound_database: Database) -> Iterator[FastAPI]:
    with shared_nodes.bound_to(backend, bound_database) as shared:
        yield shared


@pytest.fixture
def agencies() -> list[str]:
    """Hosted on this node, with ILO as the third party of agreements and referrals."""
    return ["unhcr", "iom"]


def test_every_protected_route_is_in_the_matrix(app: FastAPI) -> None:
    # Console pages take a session cookie, not a token: tests/console/test_console_access.py
    # walks them the same way.
    protected = {
        (m, p)
        for m, p, _ in operations(app)
        if (m, p) not in PUBLIC_ROUTES and not p.startswith("/console")
    }
    assert protected - set(ROUTE_CASES) == set(), "add these routes to tests/support/matrix.py"
    assert set(ROUTE_CASES) - protected == set(), "the matrix names routes that no longer exist"


async def _call(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    case: Case,
    params: dict[str, str],
    token: str | None,
) -> httpx.Response:
    url = path.format(**params) if params else path
    kwargs: dict = {"headers": bearer(token) if token else {}}
    if case.body is not None:
        kwargs["json"] = case.body()
    return await http.request(method, url, **kwargs)


@pytest.mark.parametrize(("method", "path"), sorted(ROUTE_CASES))
async def test_route_enforces_token_scope_role_and_tenancy(
    app: FastAPI, client: httpx.AsyncClient, agencies, method: str, path: str
) -> None:
    case = ROUTE_CASES[(method, path)]
    own = await case.resource(app, "unhcr") if case.resource else {}
    params = own if "{" in path else {}

    right = await seed_client(app, "unhcr", scopes=[case.scope], roles=[case.role])
    no_scope = await seed_client(
        app, "unhcr", scopes=sorted(ALL_SCOPES - {case.scope}), roles=[case.role]
    )
    # Some routes are open to every role (reading agreements): then no principal lacks one.
    lacking = sorted(ALL_ROLES - case.roles)
    no_role = (
        await seed_client(app, "unhcr", scopes=[case.scope], roles=lacking) if lacking else None
    )
    foreign = await seed_client(app, "iom", scopes=[case.scope], roles=[case.role])

    anonymous = await _call(client, method, path, case, params, None)
    assert anonymous.status_code == 401, "no token"

    missing_scope = await _call(
        client, method, path, case, params, await client_token(client, no_scope)
    )
    assert missing_scope.status_code == 403, "missing scope"
    assert 'error="insufficient_scope"' in missing_scope.headers["www-authenticate"]

    if no_role is not None:
        missing_role = await _call(
            client, method, path, case, params, await client_token(client, no_role)
        )
        assert missing_role.status_code == 403, "missing role"

    other_agency = await _call(
        client, method, path, case, params, await client_token(client, foreign)
    )
    if "{" in path and not case.shared:
        assert other_agency.status_code == 404, "another agency's row must not be found"
    elif case.lists is not None:
        listed = [case.owners(item) for item in case.items(other_agency.json())]
        assert all("iom" in owners for owners in listed), "another agency's rows are not listed"
    elif case.creates_in:
        assert other_agency.json()[case.creates_in] == "iom", "created at the caller's agency"

    allowed = await _call(client, method, path, case, params, await client_token(client, right))
    assert allowed.status_code == case.ok, allowed.text
    if case.lists is not None:
        listed = [case.owners(item) for item in case.items(allowed.json())]
        assert listed, "the caller's own rows are listed"
        assert all("unhcr" in owners for owners in listed)
