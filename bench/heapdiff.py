"""Compare two tracemalloc snapshots of bench/heapprobe (or show one): the allocation
sites, grouped by traceback, that hold the most memory, and what they grew by.

    .venv/bin/python bench/heapdiff.py SNAP [BASE] [--top 25] [--frames 6] [--per 1000]

--per N prints each site's bytes divided by N (bytes per Application)."""

from __future__ import annotations

import argparse
import tracemalloc
from pathlib import Path

SKIP = ("tracemalloc.py", "<frozen importlib", "heapprobe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("snap", type=Path)
    parser.add_argument("base", type=Path, nargs="?")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--frames", type=int, default=6, help="frames printed per site")
    parser.add_argument("--per", type=int, default=0, help="also print bytes / PER")
    parser.add_argument("--key", default="traceback", choices=["traceback", "lineno", "filename"])
    args = parser.parse_args()
    snap = tracemalloc.Snapshot.load(str(args.snap)).filter_traces(
        [tracemalloc.Filter(False, f"*{s}*") for s in SKIP]
    )
    total = sum(t.size for t in snap.traces)
    print(f"{args.snap.name}: {total / 2**20:.1f} MiB traced in {len(snap.traces)} blocks")
    if args.base:
        base = tracemalloc.Snapshot.load(str(args.base)).filter_traces(
            [tracemalloc.Filter(False, f"*{s}*") for s in SKIP]
        )
        stats = snap.compare_to(base, args.key)
        rows = [(s.size_diff, s.size, s.count_diff, s.traceback) for s in stats]
    else:
        rows = [(s.size, s.size, s.count, s.traceback) for s in snap.statistics(args.key)]
    rows.sort(key=lambda r: -r[0])
    for grown, size, count, traceback in rows[: args.top]:
        per = f" ({grown / args.per:,.0f} B per app)" if args.per else ""
        print(f"\n+{grown / 2**20:.2f} MiB (now {size / 2**20:.2f} MiB, {count:+d} blocks){per}")
        frames = [f for f in traceback if not any(s in f.filename for s in SKIP)]
        for frame in frames[-args.frames :]:
            name = frame.filename.split("site-packages/")[-1].split("/src/")[-1]
            print(f"    {name}:{frame.lineno}")


if __name__ == "__main__":
    main()
