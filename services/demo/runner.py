"""``accord demo``: a local node on SQLite under ./var/demo, started from a clean slate."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

from rich.console import Console

from services.init import initialise_node
from services.master_key import generate_master_key
from services.settings import Settings

from .nodes import NodeProcess

DEMO_DIR = Path("var/demo")
DEMO_AGENCIES = [("unhcr", "UNHCR")]


def run_demo(*, exit_after: bool, summary_json: str | None) -> int:
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)
    database_url = f"sqlite:///{DEMO_DIR / 'unhcr.db'}"
    key_file = DEMO_DIR / "master.key"
    key_file.write_text(generate_master_key())
    key_file.chmod(0o600)
    settings = Settings(env="dev", database_url=database_url, master_key_file=key_file)
    asyncio.run(initialise_node(settings, DEMO_AGENCIES))
    node = NodeProcess(
        name="unhcr",
        env={
            "ACCORD_DATABASE_URL": database_url,
            "ACCORD_ENV": "dev",
            "ACCORD_MASTER_KEY_FILE": str(key_file),
        },
        log_path=DEMO_DIR / "unhcr.log",
    )
    node.start()
    try:
        node.wait_ready()
        summary: dict[str, Any] = {
            "ok": True,
            "nodes": [{"url": node.url, "agencies": [slug for slug, _ in DEMO_AGENCIES]}],
            "people": [],
            "logins": [],
            "clients": [],
        }
        if summary_json:
            Path(summary_json).write_text(json.dumps(summary, indent=2) + "\n")
        out = Console()
        out.print(f"[bold]Accord node[/bold] for {', '.join(s for s, _ in DEMO_AGENCIES)}")
        out.print(f"  API:      {node.url}")
        out.print(f"  API docs: {node.url}/docs  (OpenAPI: {node.url}/openapi.json)")
        out.print(f"  Logs:     {node.log_path}")
        if exit_after:
            return 0
        out.print("Press Ctrl-C to stop the node.")
        _wait_for_interrupt(node)
        return 0
    finally:
        node.stop()


def _wait_for_interrupt(node: NodeProcess) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if node.process is not None and node.process.poll() is not None:
                return
    except KeyboardInterrupt:
        return
