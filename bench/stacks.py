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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
