"""``create_app``'s lifespan starts the background loops only when ACCORD_BACKGROUND_WORKERS is
on; with it off, nothing runs unless whoever holds the app drives each step."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kit.settings import Settings
from services.app import create_app
from tests.support.app import make_settings, serving
from tests.support.federation import new_root_key, root_setting


async def _tasks_started_by_the_lifespan(
    database_url: str, tmp_path: Path, *, background_workers: bool
) -> set[asyncio.Task[object]]:
    settings = make_settings(
        database_url,
        directory=str(tmp_path / "directory.json"),
        directory_root_key=root_setting(new_root_key()),
        background_workers=background_workers,
    )
    app = create_app(settings)
    before = asyncio.all_tasks()
    async with serving(app):
        started = asyncio.all_tasks() - before
        # The steps the loops would take are there to drive by hand either way.
        assert await app.state.checkpointer.step() == 0
        assert await app.state.sweeper.step() == 0
        assert await app.state.webhooks.step() == 0
    return started


@pytest.mark.fresh_database  # the loops use the database beside the test
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_loops_run_only_with_background_workers_on(
    database_url: str, tmp_path: Path
) -> None:
    assert (
        await _tasks_started_by_the_lifespan(database_url, tmp_path, background_workers=False)
        == set()
    )
    # Directory refresh, outbox delivery, audit checkpoints, deadline sweeps and webhooks.
    started = await _tasks_started_by_the_lifespan(database_url, tmp_path, background_workers=True)
    assert len(started) == 5
    assert all(task.done() for task in started), "stopped with the lifespan"


def test_background_workers_are_on_by_default() -> None:
    assert Settings(_env_file=None).background_workers is True  # type: ignore[call-arg]
