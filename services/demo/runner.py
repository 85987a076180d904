"""``accord demo``: a local federation on 127.0.0.1 running the joint SOP, end to end.

Five nodes on SQLite under ./var/demo (UNHCR; IOM and ILO sharing one; the host government;
the two origin governments, Kosovo and Serbia, each asked only about its own nationals), a
directory signed by a demo root key, the multilateral agreement proposed and signed by every
party, the avrr-joint programme at UNHCR, and then the people of the SOP issue walked through
it over the public HTTP API. Work is left waiting for people in the console: a referral to
approve at UNHCR and one to accept at IOM.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from contracts.keys import KeyKind, generate_key
from kit.db.base import utcnow
from kit.master_key import generate_master_key
from kit.settings import Settings
from services.init import initialise_node

from .nodes import NodeProcess, free_port
from .scenarios import COUNTRIES, PEOPLE, TIME_ZONES, Driver, Person, ScenarioFailed
from .setup import Hosted, prepare

DEMO_DIR = Path("var/demo")
NODES: list[tuple[str, list[tuple[str, str]]]] = [
    ("unhcr", [("unhcr", "UNHCR")]),
    ("iom-ilo", [("iom", "IOM"), ("ilo", "ILO"), ("caritas", "Caritas return counselling")]),
    (
        "gov-de",
        [
            ("gov-de", "Germany, Federal Office for Migration"),
            ("hardship-be", "Berlin hardship commission"),
        ],
    ),
    ("gov-xk", [("gov-xk", "Kosovo, Ministry of Internal Affairs")]),
    ("gov-rs", [("gov-rs", "Serbia, Ministry of Interior")]),
]
FAST = {
    "ACCORD_ENV": "dev",
    "ACCORD_LOG_LEVEL": "WARNING",
    "ACCORD_OUTBOX_POLL_SECONDS": "0.05",
    "ACCORD_DIRECTORY_REFRESH_SECONDS": "5",
    "ACCORD_DELIVERY_BACKOFF_BASE_SECONDS": "0.1",
    "ACCORD_DELIVERY_BACKOFF_CAP_SECONDS": "2",
}


@dataclass
class DemoNode:
    name: str
    agencies: list[tuple[str, str]]
    process: NodeProcess
    hosted: list[Hosted]


def _init_nodes(console: Console) -> tuple[list[DemoNode], dict[str, Any]]:
    """Migrate each node's database, create its agencies, keys and admin credentials."""
    key_file = DEMO_DIR / "master.key"
    key_file.write_text(generate_master_key())
    key_file.chmod(0o600)
    nodes, members = [], []
    for name, agencies in NODES:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        database_url = f"sqlite:///{DEMO_DIR / name}.db"
        settings = Settings(
            env="dev", database_url=database_url, master_key_file=key_file, public_url=url
        )
        result = asyncio.run(
            initialise_node(settings, agencies, countries=COUNTRIES, time_zones=TIME_ZONES)
        )
        hosted = [
            Hosted(row["agency"], url, row["client"]["client_id"], row["client"]["client_secret"])
            for row in result["agencies"]
        ]
        members += [row["member"] for row in result["agencies"]]
        env = {**FAST, "ACCORD_DATABASE_URL": database_url, "ACCORD_MASTER_KEY_FILE": str(key_file)}
        process = NodeProcess(name=name, env=env, log_path=DEMO_DIR / f"{name}.log", port=port)
        nodes.append(DemoNode(name, agencies, process, hosted))
        console.print(
            f"  node [bold]{name}[/bold] at {url} for {', '.join(slug for slug, _ in agencies)}"
        )
    return nodes, {"members": members}


def _sign_directory(members: list[dict[str, Any]]) -> tuple[Path, str]:
    from contracts.directory import sign_directory
    from contracts.envelope import format_timestamp

    now = utcnow().replace(microsecond=0)
    root = generate_key(KeyKind.ED25519, nbf=now, exp=now.replace(year=now.year + 1))
    document = sign_directory(
        {
            "federation": "accord-demo",
            "version": 1,
            "issued_at": format_timestamp(now),
            "members": members,
        },
        root,
    )
    path = DEMO_DIR / "directory.json"
    path.write_text(json.dumps(document, indent=2))
    (DEMO_DIR / "root.jwk").write_text(json.dumps(root.public.to_jwk()))
    return path, json.dumps(root.public.to_jwk())


def _write_atomically(path: Path, text: str) -> None:
    """Whoever waits for the file sees all of it or nothing: written aside, then renamed."""
    aside = path.with_name(f".{path.name}.partial")
    aside.write_text(text)
    os.replace(aside, path)


def run_demo(*, exit_after: bool, summary_json: str | None) -> int:
    console = Console()
    started = time.monotonic()
    if DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True)
    console.rule("[bold]Accord demo[/bold]: a federation on 127.0.0.1")
    nodes, directory = _init_nodes(console)
    path, root = _sign_directory(directory["members"])
    for node in nodes:
        node.process.env |= {"ACCORD_DIRECTORY": str(path), "ACCORD_DIRECTORY_ROOT_KEY": root}
        node.process.start()
    try:
        for node in nodes:
            node.process.wait_ready()
        console.print(f"  directory signed by the demo root key: {path}")
        summary = asyncio.run(_scenarios(nodes, console))
        summary["seconds"] = round(time.monotonic() - started, 1)
        _report(summary, console)
        if summary_json:
            _write_atomically(Path(summary_json), json.dumps(summary, indent=2) + "\n")
        if not summary["ok"]:
            return 1
        if exit_after:
            return 0
        console.print("\nThe nodes stay up; press [bold]Ctrl-C[/bold] to stop them.")
        _wait_for_interrupt(nodes)
        return 0
    finally:
        for node in nodes:
            node.process.stop()


async def _scenarios(nodes: list[DemoNode], console: Console) -> dict[str, Any]:
    def timeline(who: str, stage: str, what: str) -> None:
        console.print(
            f"  [dim]{time.strftime('%H:%M:%S')}[/dim] [cyan]{who:<28}[/cyan] "
            f"[magenta]{stage:<24}[/magenta] {what}"
        )

    hosted = [h for node in nodes for h in node.hosted]
    async with httpx.AsyncClient(timeout=30) as http:
        prepared = await prepare(http, hosted, timeline=timeline, patience=45)
        driver = prepared.driver
        console.rule("People walking the joint SOP")
        results = await asyncio.gather(
            *(
                _walk(driver, person, prepared.programmes[person.programme], prepared.valid_until)
                for person in PEOPLE
            )
        )
        console.rule("Work left waiting in the console")
        waiting = await _leave_work(driver, prepared.programme_id, prepared.valid_until)
    unhcr_url = next(h.url for h in hosted if h.agency == "unhcr")
    return {
        "ok": all(r["end_stage"] == r["expected_end_stage"] for r in results),
        "nodes": [{"url": n.process.url, "agencies": [s for s, _ in n.agencies]} for n in nodes],
        "people": results,
        "logins": prepared.logins,
        "clients": prepared.clients,
        "console": f"{unhcr_url}/console",
        "waiting": waiting,
    }


async def _walk(
    driver: Driver, person: Person, programme_id: str, valid_until: str
) -> dict[str, Any]:
    try:
        outcome = await driver.run(person, programme_id, valid_until)
        end = outcome["journey"]["stage"]
        referrals, erasures = len(outcome["referrals"]), outcome["erasures"]
        stages = outcome["stages"]
    except ScenarioFailed as failed:
        driver.say(person.name, "FAILED", str(failed))
        end, referrals, erasures, stages = "failed", 0, 0, []
    return {
        "name": person.name,
        "pathway": person.pathway,
        "end_stage": end,
        "expected_end_stage": person.expected_end_stage,
        "referrals": referrals,
        "erasures": erasures,
        "stages": stages,
    }


async def _leave_work(driver: Driver, programme_id: str, valid_until: str) -> dict[str, str]:
    """One referral pending approval at UNHCR, one waiting for acceptance at IOM."""
    first = Person(
        "Ana P. (just arrived)", "profiling", PEOPLE[0].profile, PEOPLE[0].data, [], "profiling"
    )
    journey_id, _ = await driver.admit(first, programme_id, valid_until)
    pending = (await driver.journey(journey_id))["referral_id"]
    driver.say(first.name, "profiling", f"referral {pending[:8]}… waits for approval at UNHCR")

    second = Person(
        "Besnik M. (after profiling)",
        "counselling",
        PEOPLE[0].profile,
        PEOPLE[0].data,
        [],
        "counselling",
    )
    journey_id, _ = await driver.admit(second, programme_id, valid_until)
    journey = await driver.journey(journey_id)
    profiling = await driver.send_referral(second, journey, [])
    await driver.client("gov-de", "worker").complete_referral(profiling, outcome="profiled")

    async def at_counselling() -> bool:
        current = await driver.journey(journey_id)
        return bool(current["stage"] == "counselling" and current["referral_id"])

    await driver.until("counselling", at_counselling)
    counselling = (await driver.journey(journey_id))["referral_id"]
    await driver.client("unhcr", "focal_point").approve_referral(counselling)
    await driver.until("the referral at IOM", lambda: driver.arrived("iom", counselling))
    driver.say(second.name, "counselling", f"referral {counselling[:8]}… waits for IOM to accept")
    return {"to_approve_at_unhcr": pending, "to_accept_at_iom": counselling}


def _report(summary: dict[str, Any], console: Console) -> None:
    table = Table(
        "person",
        "pathway",
        "end stage",
        "expected",
        "referrals",
        "erasures",
        title=f"Summary ({summary['seconds']} s)",
    )
    for person in summary["people"]:
        mark = "" if person["end_stage"] == person["expected_end_stage"] else " [red]✗[/red]"
        table.add_row(
            person["name"],
            person["pathway"],
            person["end_stage"] + mark,
            person["expected_end_stage"],
            str(person["referrals"]),
            str(person["erasures"]),
        )
    console.print(table)
    console.print(f"Console: [bold]{summary['console']}[/bold] (each node serves its own)")
    logins = Table("agency", "role", "email", "password", title="Demo logins")
    for login in summary["logins"]:
        if login["role"] in ("focal_point", "admin", "auditor"):
            logins.add_row(login["agency"], login["role"], login["email"], login["password"])
    console.print(logins)
    for node in summary["nodes"]:
        console.print(
            f"  {', '.join(node['agencies']):<10} console {node['url']}/console  "
            f"API docs {node['url']}/docs"
        )
    console.print(
        "[green]All people reached their expected stage.[/green]"
        if summary["ok"]
        else "[red]Some people did not reach their expected stage.[/red]"
    )


def _wait_for_interrupt(nodes: list[DemoNode]) -> None:
    stop = threading.Event()
    # Both set explicitly: a shell that starts a job in the background (`make demo &`, CI
    # runners) hands it SIGINT ignored, and Ctrl-C or `kill -INT` must still stop the nodes.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if any(
                n.process.process is not None and n.process.process.poll() is not None
                for n in nodes
            ):
                return
    except KeyboardInterrupt:
        return
