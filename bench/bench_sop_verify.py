"""Verifications per second of each shipped SOP, against parsing it (the floor of any upload).

    .venv/bin/python bench/bench_sop_verify.py [--seconds 1.0] [--repeats 3]

Measures, in one process and on one core, for each file in ``sop/definitions``:

- ``parse``: YAML to a schema-valid ``Definition`` (``sop.loader.parse_definition``);
- ``verify``: ``sop.verify.verify`` on a fresh copy, guards compiled anew each time, including
  the protection search that lets a protection fact turn true at any step (DESIGN §9).

``POST /v1/sops`` verifies in a worker process killed after 2 s, so ``verify`` must stay far
below that on this 2-core machine. Each figure is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from sop.loader import SHIPPED_DIR, parse_definition
from sop.verify import verify


def rate(work: Callable[[], object], seconds: float, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            work()
            done += 1
        best = max(best, done / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for path in sorted(SHIPPED_DIR.glob("*.yaml")):
        text, name = path.read_text(encoding="utf-8"), path.name

        def parse(text: str = text, name: str = name) -> object:
            return parse_definition(text, name).definition

        def check(text: str = text, name: str = name) -> object:
            definition = parse_definition(text, name).definition
            assert definition is not None
            return verify(definition)

        parsed = rate(parse, args.seconds, args.repeats)
        verified = rate(check, args.seconds, args.repeats)
        print(
            f"{path.name:<20} parse {parsed:8.1f}/s  verify {verified:6.2f}/s "
            f"({1000 / verified:6.1f} ms, {parsed / verified:5.1f}x parse)"
        )


if __name__ == "__main__":
    main()
