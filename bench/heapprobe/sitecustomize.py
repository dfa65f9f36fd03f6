"""A heap probe for the benchmarks, not part of the operator: put this folder on
PYTHONPATH with HEAPPROBE_DIR set, and a ``python -m gitops_operator`` started with it
writes into HEAPPROBE_DIR:

- ``malloc.tsv``, every second: resident set, glibc's heap (mallinfo2: bytes in use,
  free inside the heap, in mmapped chunks), the bytes of pymalloc's arenas, and the
  open sockets. With HEAPPROBE_FRAMES=0 (the default) nothing else runs, so the numbers
  are the operator's own.
- with HEAPPROBE_FRAMES=N > 0: allocations traced by tracemalloc (N frames), and a
  snapshot each time the resident set passes the last one's by HEAPPROBE_STEP MiB
  (default 40) and on SIGUSR2: ``snap-<n>-<rss MiB>.tm`` (bench/heapdiff.py compares two)
  and ``types-<n>.txt``, the live objects by type.
- with HEAPPROBE_GC=S > 0: a full garbage collection every S seconds, each written to
  ``gc.tsv`` (objects found unreachable, Python blocks before and after): how much
  cyclic garbage waits for the collector at any time (this changes what it measures).
"""

from __future__ import annotations

import contextlib
import os
import sys

_DIR = os.environ.get("HEAPPROBE_DIR")


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _start(folder: str) -> None:
    import collections
    import ctypes
    import gc
    import signal
    import threading
    import time
    import tracemalloc

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                "fsmblks", "uordblks", "fordblks", "keepcost",
            )
        ]  # fmt: skip

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    frames = int(os.environ.get("HEAPPROBE_FRAMES", "0"))
    step = float(os.environ.get("HEAPPROBE_STEP", "40"))
    lock = threading.Lock()
    state = {"n": 0, "last": 0.0}

    def pymalloc_bytes() -> int:
        # sys._debugmallocstats writes to C stderr; count arenas from the blocks instead
        return int(sys.getallocatedblocks())

    def dump(reason: str) -> None:
        with lock:
            state["n"] += 1
            n, rss = int(state["n"]), _rss_mib()
            began = time.monotonic()
            snapshot = tracemalloc.take_snapshot()
            snapshot.dump(os.path.join(folder, f"snap-{n:02d}-{rss:.0f}.tm"))
            del snapshot
            counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
            traced, peak = tracemalloc.get_traced_memory()
            own = tracemalloc.get_tracemalloc_memory()
            with open(os.path.join(folder, f"types-{n:02d}.txt"), "w") as out:
                out.write(
                    f"# {reason} rss {rss:.1f} MiB traced {traced / 2**20:.1f} MiB peak traced"
                    f" {peak / 2**20:.1f} MiB tracemalloc own {own / 2**20:.1f} MiB at"
                    f" {time.time():.0f}\n"
                )
                for name, count in counts.most_common(80):
                    out.write(f"{count:9d} {name}\n")
            state["last"] = _rss_mib()
            sys.stderr.write(
                f"heapprobe: snapshot {n} ({reason}) at {rss:.0f} MiB took "
                f"{time.monotonic() - began:.1f}s\n"
            )

    def sockets() -> int:
        found = 0
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                found += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        return found

    def collect(every: float) -> None:
        with open(os.path.join(folder, "gc.tsv"), "w") as out:
            out.write("time\tcollected\tblocks_before\tblocks_after\trss\n")
            while True:
                time.sleep(every)
                before = sys.getallocatedblocks()
                found = gc.collect()
                after = sys.getallocatedblocks()
                out.write(f"{time.time():.0f}\t{found}\t{before}\t{after}\t{_rss_mib():.1f}\n")
                out.flush()

    def watch() -> None:
        with open(os.path.join(folder, "malloc.tsv"), "w") as out:
            out.write("time\trss\theap\tin_use\tfree\tmmapped\tblocks\tsockets\n")
            while True:
                time.sleep(1.0)
                info = libc.mallinfo2()
                mib = [
                    _rss_mib(),
                    info.arena / 2**20,
                    info.uordblks / 2**20,
                    info.fordblks / 2**20,
                    info.hblkhd / 2**20,
                ]
                out.write(
                    f"{time.time():.0f}\t"
                    + "\t".join(f"{v:.1f}" for v in mib)
                    + f"\t{pymalloc_bytes()}\t{sockets()}\n"
                )
                out.flush()
                if frames and mib[0] > state["last"] + step:
                    dump("rss")

    if frames:
        tracemalloc.start(frames)
        signal.signal(
            signal.SIGUSR2, lambda *_: threading.Thread(target=dump, args=("signal",)).start()
        )
    threading.Thread(target=watch, name="heapprobe", daemon=True).start()
    every = float(os.environ.get("HEAPPROBE_GC", "0"))
    if every:
        threading.Thread(target=collect, args=(every,), name="heapprobe-gc", daemon=True).start()


if _DIR and "gitops_operator" in getattr(sys, "orig_argv", []):
    os.makedirs(_DIR, exist_ok=True)
    _start(_DIR)
