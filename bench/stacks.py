"""Sum py-spy's raw (collapsed) stacks into the share of samples under each named function.

    py-spy record --format raw -o /tmp/stacks.txt -- python bench/profile_referrals.py ...
    python bench/stacks.py /tmp/stacks.txt [--top 40] [--under FUNCTION]

Each line of a raw file is ``frame;frame;... count``; a function's share is the samples whose
stack passes through it at least once (inclusive), so shares of nested functions overlap.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>[^ ]+) \((?P<file>[^:]+)(?::\d+)?\)$")


def frames(stack: str) -> list[str]:
    named = []
    for frame in stack.split(";"):
        match = _FRAME.match(frame.strip())
        if match is None:
            named.append(frame.strip())
            continue
        file = match["file"]
        for marker in ("site-packages/", "wt-batches/", "lib/python3.11/"):
            if marker in file:
                file = file.split(marker, 1)[1]
        named.append(f"{match['name']} ({file})")
    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--under", help="only stacks through this function name")
    parser.add_argument(
        "--by-package",
        action="store_true",
        help="self time: each sample to the package of its innermost frame",
    )
    args = parser.parse_args()
    if args.by_package:
        by_package(args.path, args.under)
        return
    inclusive: Counter[str] = Counter()
    total = 0
    for line in args.path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        named = frames(stack)
        if args.under and not any(args.under in f for f in named):
            continue
        samples = int(count)
        total += samples
        for frame in set(named):
            inclusive[frame] += samples
    print(f"{total} samples")
    for frame, samples in inclusive.most_common(args.top):
        print(f"{100 * samples / total:5.1f}%  {frame}")


#: Packages grouped as the issue talks about them (innermost frame's file path -> group).
_GROUPS = [
    ("select.epoll", "waiting (event loop idle: database, thread hops)"),
    ("selectors.py", "waiting (event loop idle: database, thread hops)"),
    ("aiosqlite/", "database driver (aiosqlite)"),
    ("asyncpg/", "database driver (asyncpg)"),
    ("sqlite3", "database driver (sqlite3)"),
    ("sqlalchemy/orm/", "SQLAlchemy ORM"),
    ("sqlalchemy/", "SQLAlchemy Core/engine"),
    ("greenlet", "SQLAlchemy Core/engine"),
    ("rfc8785/", "JSON canonicalization (RFC 8785)"),
    ("contracts/canonical", "JSON canonicalization (RFC 8785)"),
    ("cryptography/", "crypto (Ed25519, HPKE, AES)"),
    ("joserfc/", "access token (JWT) verification"),
    ("pydantic", "pydantic validation/serialization"),
    ("json/", "JSON (stdlib)"),
    ("starlette/", "ASGI stack (Starlette, FastAPI, httpx)"),
    ("fastapi/", "ASGI stack (Starlette, FastAPI, httpx)"),
    ("httpx/", "ASGI stack (Starlette, FastAPI, httpx)"),
    ("anyio/", "ASGI stack (Starlette, FastAPI, httpx)"),
    ("kit/http", "ASGI stack (Starlette, FastAPI, httpx)"),
    ("asyncio/", "event loop"),
    ("structlog", "logging"),
    ("logging/", "logging"),
]


def _group(frame: str) -> str:
    for needle, group in _GROUPS:
        if needle in frame:
            return group
    match = _FRAME.match(frame)
    file = match["file"] if match else frame
    return f"our code ({file.split('/')[0]})" if "/" in file else "other"


def by_package(path: Path, under: str | None) -> None:
    groups: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        named = frames(stack)
        if under and not any(under in f for f in named):
            continue
        samples = int(count)
        total += samples
        groups[_group(stack.split(";")[-1].strip())] += samples
    print(f"{total} samples")
    for group, samples in groups.most_common():
        print(f"{100 * samples / total:5.1f}%  {group}")


if __name__ == "__main__":
    main()
