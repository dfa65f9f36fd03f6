"""What a benchmark's processes cost: CPU seconds from /proc, and the peak resident set
of a process tree, sampled."""

from __future__ import annotations

import os
import threading

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and of its children that it has waited for."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


def hwm_bytes(pid: int) -> int:
    """VmHWM: the process's own peak resident set."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _process_table() -> dict[int, int]:
    """pid -> parent pid, for every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    table[int(entry.name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return table


def _rss(pid: int) -> tuple[int, int]:
    """(resident, resident and not file-backed or shared) bytes, from /proc/<pid>/statm."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            fields = f.read().split()
        return int(fields[1]) * PAGE, (int(fields[1]) - int(fields[2])) * PAGE
    except (OSError, IndexError, ValueError):
        return 0, 0


class MemorySampler:
    """Samples the resident set of each root process plus its descendants (git,
    kustomize, helm) every ``period`` seconds; peak = max(sampled tree, VmHWM).
    ``anon_peaks`` leaves out file-backed pages (a Go binary's text is ~90 MB of file)."""

    def __init__(self, roots: dict[str, int], period: float = 0.25) -> None:
        self.roots = roots
        self.period = period
        self.peaks = dict.fromkeys(roots, 0)
        self.anon_peaks = dict.fromkeys(roots, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def sample(self) -> None:
        parents = _process_table()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        for name, root in self.roots.items():
            total, anon, stack = 0, 0, [root]
            while stack:
                pid = stack.pop()
                resident, private = _rss(pid)
                total += resident
                anon += private
                stack.extend(children.get(pid, ()))
            self.peaks[name] = max(self.peaks[name], total)
            self.anon_peaks[name] = max(self.anon_peaks[name], anon)

    def stop(self) -> dict[str, int]:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.sample()
            for name, pid in self.roots.items():
                self.peaks[name] = max(self.peaks[name], hwm_bytes(pid))
        return self.peaks
