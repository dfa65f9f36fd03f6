"""When each object of a watched list is first seen in a state: a watch in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch


class FirstSeen:
    """Watches ``list_call(*args)`` and records, by name, when each object is first seen
    with ``key(obj)`` giving its name (None: not yet, or not one of ours); ``done`` is set
    once ``n`` names are recorded."""

    def __init__(
        self,
        list_call: Callable[..., Any],
        *args: Any,
        key: Callable[[Any], str | None],
        n: int,
    ) -> None:
        self.times: dict[str, float] = {}
        self.done = threading.Event()
        self._watch = watch.Watch()
        self._n = n
        threading.Thread(target=self._run, args=(list_call, args, key), daemon=True).start()

    def _run(
        self, list_call: Callable[..., Any], args: tuple[Any, ...], key: Callable[[Any], str | None]
    ) -> None:
        while not self.done.is_set():
            try:
                for event in self._watch.stream(list_call, *args, timeout_seconds=60):
                    name = key(event["object"])
                    if name is not None and name not in self.times:
                        self.times[name] = time.monotonic()
                        if len(self.times) == self._n:
                            self.done.set()
                            return
            except client.ApiException:
                time.sleep(0.5)

    def stop(self) -> None:
        self.done.set()
        self._watch.stop()
