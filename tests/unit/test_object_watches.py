"""The watches of objects Applications wait for: one per object, shared, stopped when
no Application waits any more, bounded, and a failing watch still wakes its waiters."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, cast

from gitops_operator import object_watches
from gitops_operator.object_watches import ObjectWatches

FLAG = ("", "v1", "ConfigMap", "team", "flag")
OTHER = ("", "v1", "ConfigMap", "team", "other")


class FakeClient:
    """Stands for ``KubeClient.watch_object``: yields what ``changes`` is fed."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.changes: list[str] = []
        self.watching = 0
        self.lock = threading.Lock()

    def watch_object(self, api_version: str, ref: Any, timeout: int) -> Iterator[str]:
        if self.fail:
            raise RuntimeError("forbidden")
        with self.lock:
            self.watching += 1
        try:
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                with self.lock:
                    batch, self.changes = self.changes, []
                yield from batch
                time.sleep(0.01)
        finally:
            with self.lock:
                self.watching -= 1


def until(check: Any, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_a_change_wakes_every_waiting_application_and_the_watch_stops_when_unused() -> None:
    woken: list[tuple[str, str]] = []
    watches = ObjectWatches(woken.append)
    client: Any = FakeClient()
    watches.track(("team", "a"), client, [FLAG])
    watches.track(("team", "b"), client, [FLAG])
    assert watches.count() == 1
    until(lambda: client.watching == 1)
    client.changes.append("MODIFIED")
    until(lambda: sorted(woken) == [("team", "a"), ("team", "b")])

    watches.track(("team", "a"), None, [])
    assert watches.count() == 1
    watches.track(("team", "b"), client, [])  # b no longer waits
    assert watches.count() == 0
    until(lambda: client.watching == 0)
    woken.clear()
    client.changes.append("MODIFIED")
    time.sleep(0.4)
    assert woken == []


def test_watches_are_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(object_watches, "MAX_OBJECT_WATCHES", 1)
    watches = ObjectWatches(lambda app: None)
    client: Any = FakeClient()
    watches.track(("team", "a"), client, [FLAG, OTHER])
    assert watches.count() == 1
    watches.stop_all()
    assert watches.count() == 0


def test_a_watch_that_fails_wakes_its_applications_and_retries(monkeypatch: Any) -> None:
    monkeypatch.setattr(object_watches, "RETRY", 0.05)
    woken: list[tuple[str, str]] = []
    watches = ObjectWatches(woken.append)
    watches.track(("team", "a"), cast(Any, FakeClient(fail=True)), [FLAG])
    until(lambda: len(woken) >= 2)
    watches.stop_all()
