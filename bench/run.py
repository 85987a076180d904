"""``python -m bench``: start what is measured, measure it, write ``bench/results/latest.*``.

python -m bench                 # make bench: well under 10 minutes
python -m bench --long          # make bench-long: adds 10⁶ rows and the 5-minute memory run
python -m bench --runs 5 --seconds 10 --only api --backend postgresql
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import psycopg

from bench import report
from bench.cluster import throwaway_cluster
from bench.config import BenchSettings, say
from bench.load import wrk_binary
from bench.scenarios import api, exchange, inprocess
from bench.targets import evaluate


def parse(argv: list[str] | None = None) -> tuple[BenchSettings, Path, Path | None]:
    defaults = BenchSettings()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="10⁶-row listing, 5-minute memory run")
    parser.add_argument("--runs", type=int, default=defaults.runs)
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="per timed run")
    parser.add_argument("--warmup", type=float, default=defaults.warmup)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--inprocess-seconds", type=float, default=defaults.inprocess_seconds)
    parser.add_argument("--listing", type=int, default=defaults.listing)
    parser.add_argument("--long-listing", type=int, default=defaults.long_listing)
    parser.add_argument("--memory-seconds", type=float, default=defaults.memory_seconds)
    parser.add_argument(
        "--backend", action="append", choices=["postgresql", "sqlite"], help="repeatable"
    )
    parser.add_argument(
        "--only", action="append", choices=["inprocess", "api", "exchange"], help="repeatable"
    )
    parser.add_argument("--out", type=Path, default=report.RESULTS)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep node logs, directories and SQLite files in this new or empty directory "
        "(default: a temporary directory, removed at the end)",
    )
    args = parser.parse_args(argv)
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty: a run starts from nothing")
    settings = BenchSettings(
        runs=args.runs,
        seconds=args.seconds,
        warmup=args.warmup,
        concurrency=args.concurrency,
        workers=args.workers,
        inprocess_seconds=args.inprocess_seconds,
        listing=args.listing,
        long_listing=args.long_listing,
        long=args.long,
        memory_seconds=args.memory_seconds,
        backends=tuple(args.backend or defaults.backends),
        only=tuple(args.only or defaults.only),
    )
    return settings, args.out, args.workdir


def _stop(signum: int, _frame: object) -> None:
    # Unwind through the finally blocks: they stop the nodes and the PostgreSQL cluster.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> None:
    settings, out, workdir = parse(argv)
    signal.signal(signal.SIGTERM, _stop)
    started = time.monotonic()
    results = report.Results(
        settings=settings.__dict__
        | {"backends": list(settings.backends), "only": list(settings.only)}
    )
    needs_servers = "api" in settings.only or "exchange" in settings.only
    if needs_servers:
        wrk_binary()
    with ExitStack() as stack:
        if workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="accord-bench-")))
        else:
            root = workdir
            root.mkdir(parents=True, exist_ok=True)
        admin_url = None
        if needs_servers and ("postgresql" in settings.backends or "exchange" in settings.only):
            say("starting a PostgreSQL cluster")
            admin_url = stack.enter_context(throwaway_cluster())
            with psycopg.connect(admin_url) as connection:
                results.versions["postgresql"] = str(
                    connection.execute("SHOW server_version").fetchone()[0]
                )  # type: ignore[index]
        groups: list[tuple[str, Callable[[], None]]] = []
        if "inprocess" in settings.only:
            groups.append(("in process", lambda: inprocess.run(settings, results)))
        if "api" in settings.only:
            for backend in settings.backends:
                groups.append(
                    (
                        f"API scenarios on {backend}",
                        partial(api.run, root, backend, admin_url, settings, results),
                    )
                )
        if "exchange" in settings.only and admin_url is not None:
            groups.append(
                (
                    "exchange between two nodes on PostgreSQL",
                    lambda: exchange.run(root, admin_url, settings, results),
                )
            )
        for name, group in groups:
            say(name)
            try:
                group()
            except Exception as exc:
                say(f"{name} failed: {exc!r}")
                results.failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
    results.versions = report.software_versions(results.versions | {"wrk": _wrk_version()})
    results.targets = evaluate(results)
    results.duration_seconds = time.monotonic() - started
    document = report.write(results, out)
    say(f"wrote {out / 'latest.md'} and latest.json in {results.duration_seconds:.0f} s")
    for target in document["targets"]:
        met = {True: "met", False: "NOT MET", None: "not run"}[target["met"]]
        say(f"  {target['name']}: {target['measured']} ({target['target']}): {met}")


def _wrk_version() -> str:
    import subprocess

    try:
        output = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    except (OSError, RuntimeError):
        return "missing"
    text = (output.stdout or output.stderr).split()
    return text[1] if len(text) > 1 else "?"


if __name__ == "__main__":
    main()
