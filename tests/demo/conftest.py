"""``accord demo`` running for the whole module, as a newcomer runs it: four node processes on
127.0.0.1, the scenarios played over HTTP, the nodes kept up until Ctrl-C. The browser tests
work on what it leaves waiting; Ctrl-C at the end must stop every node cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("demo")
    summary_path = workdir / "summary.json"
    log = (workdir / "demo.out").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "demo", "--summary-json", str(summary_path)],
        env={**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "160"},
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        while not summary_path.exists() and process.poll() is None:
            assert time.monotonic() < deadline, "the demo did not finish its scenarios in time"
            time.sleep(0.25)
        assert summary_path.exists(), (workdir / "demo.out").read_text()[-4000:]
        summary = json.loads(summary_path.read_text())
        yield summary | {"output": workdir / "demo.out"}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
    assert process.returncode == 0, (workdir / "demo.out").read_text()[-4000:]
    for node in summary["nodes"]:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{node['url']}/healthz", timeout=2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


def shoot(page: Any, name: str) -> None:
    """Keep how a page looks at 1366x768, for people to review (tests/artifacts/pages/)."""
    (ARTIFACTS / "pages").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pages" / f"{name}.png"))


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context at a laptop's 1366x768; a screenshot under tests/artifacts/
    when the test fails."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
