"""Waiting on local things, for the tests, the demo and the benchmarks alike: a free port
for a process to listen on, a condition polled until it holds, a process until it serves.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    probe: Callable[[], T | None],
    timeout: float = 30.0,
    what: str = "",
    *,
    period: float = 0.2,
    ignore: tuple[type[Exception], ...] = (),
    error: Callable[[str], BaseException] = AssertionError,
) -> T:
    """Call ``probe`` every ``period`` seconds until it returns something truthy; return it.

    An exception in ``ignore`` counts as "not yet". After ``timeout`` seconds raise
    ``error`` (by default an AssertionError: in a test, a wait that never ends is a
    failed expectation) naming ``what`` and the last value or exception seen."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = probe()
        except ignore as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise error(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(period)


def wait_serving(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200; fail at once, with the tail of ``log``, if ``proc``
    exits first, and with the same tail after ``timeout``."""

    def serving() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{log.stem} exited ({proc.returncode}):\n{tail(log)}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
        return False

    wait_for(
        serving,
        timeout,
        f"{url} to answer",
        error=lambda message: RuntimeError(f"{log.stem}: {message}\n{tail(log)}"),
    )


def tail(log: Path, chars: int = 3000) -> str:
    """The end of a log file, or nothing when it is not there."""
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
