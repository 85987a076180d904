"""Nodes hold the newest verified directory, refuse older or forged ones, and pick up a newer
one without a restart."""

from __future__ import annotations

import json
from pathlib import Path

from tests.services.federation.conftest import ROOT
from tests.support.app import serving
from tests.support.federation import join, new_root_key, write_directory
from tests.support.identity import BASE_URL


async def test_directory_is_served_exactly_as_signed(app, client, federated) -> None:
    served = (await client.get("/v1/directory")).json()
    assert served == federated
    assert (await client.get("/v1/directory/root")).json() == ROOT.public.to_jwk()
    ready = (await client.get("/readyz")).json()
    assert ready["directory"] == "version 1"


async def test_a_newer_directory_is_picked_up_without_restart(
    app, client, federated, directory_path: Path
) -> None:
    await join(app, directory_path, ROOT, BASE_URL, ["unhcr", "iom"], version=2)
    assert (await client.get("/v1/directory")).json()["version"] == 2


async def test_an_older_directory_is_refused(app, client, federated, directory_path) -> None:
    await join(app, directory_path, ROOT, BASE_URL, ["unhcr", "iom"], version=3)
    members = json.loads(directory_path.read_text())["members"]
    write_directory(directory_path, ROOT, members, version=2)
    assert await app.state.federation.directory.refresh() is False
    assert app.state.federation.directory.current().version == 3
    assert "older" in app.state.federation.directory.last_error


async def test_a_directory_signed_by_another_root_is_refused(
    app, client, federated, directory_path
) -> None:
    members = json.loads(directory_path.read_text())["members"]
    write_directory(directory_path, new_root_key(), members, version=9)
    assert await app.state.federation.directory.refresh() is False
    assert app.state.federation.directory.current().version == 1


async def test_a_restarted_node_keeps_the_newest_directory(
    app, client, federated, directory_path, settings, make_app
) -> None:
    await join(app, directory_path, ROOT, BASE_URL, ["unhcr", "iom"], version=4)
    members = json.loads(directory_path.read_text())["members"]
    write_directory(directory_path, ROOT, members, version=2)  # someone rolls the file back
    restarted = make_app(settings)
    async with serving(restarted) as http:
        assert (await http.get("/v1/directory")).json()["version"] == 4


async def test_a_node_without_its_directory_is_not_ready(app, client) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert "directory" in response.json()["detail"]
