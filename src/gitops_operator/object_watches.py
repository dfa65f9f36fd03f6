"""Wake Applications that wait for an object of ``spec.dependsOn`` when it changes.

One watch per object waited for, made with the identity of the Applications that wait
(their impersonated ServiceAccount, so a tenant can watch only what it may read), on a
thread of its own, started when an Application starts waiting and stopped when none waits
any more (at its next event, or within ``WATCH_TIMEOUT`` seconds). At most
``MAX_OBJECT_WATCHES`` run at once; an object beyond them, or one whose watch fails (the
ServiceAccount may get but not watch it, its kind is not served yet), is woken for every
``RETRY`` seconds instead: a poll, for those only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .kube import KubeClient
from .objects import ObjectRef

Key = tuple[str, str]  # an Application's namespace and name
WatchKey = tuple[str, str, str, str, str]
"""identity (user name, "" for the operator's own), apiVersion, kind, namespace, name"""

WATCH_TIMEOUT = 30
"""Seconds one watch request lasts before it is made again (and a stopped watch ends)."""
RETRY = 5.0
"""Seconds between attempts when a watch fails; each failure wakes its Applications."""
MAX_OBJECT_WATCHES = 256
"""Watch threads at most; beyond them, the Applications' own requeue reads the object."""

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Watch:
    client: KubeClient
    waiting: set[Key] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(slots=True)
class ObjectWatches:
    """The watches of the objects Applications wait for; ``wake`` must be thread-safe."""

    wake: Callable[[Key], None]
    _watches: dict[WatchKey, _Watch] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def track(self, app: Key, client: KubeClient | None, objects: Iterable[WatchKey]) -> None:
        """Record the objects ``app`` waits for now (none: it waits for nothing), read
        with ``client``; start the watches that are new, stop the unused ones."""
        wanted = set(objects) if client is not None else set()
        with self._lock:
            for key, watch in list(self._watches.items()):
                if key not in wanted:
                    watch.waiting.discard(app)
                    if not watch.waiting:
                        watch.stop.set()
                        del self._watches[key]
            for key in wanted:
                found = self._watches.get(key)
                if found is None:
                    if client is None or len(self._watches) >= MAX_OBJECT_WATCHES:
                        continue
                    found = self._watches[key] = _Watch(client)
                    threading.Thread(
                        target=self._run, args=(key, found), name="watch-dependency", daemon=True
                    ).start()
                found.waiting.add(app)

    def count(self) -> int:
        with self._lock:
            return len(self._watches)

    def stop_all(self) -> None:
        with self._lock:
            for watch in self._watches.values():
                watch.stop.set()
            self._watches.clear()

    def _run(self, key: WatchKey, watch: _Watch) -> None:
        _, api_version, kind, namespace, name = key
        ref = ObjectRef(api_version.rpartition("/")[0], kind, namespace, name)
        while not watch.stop.is_set():
            try:
                # the first event is the object's state now (if it exists): it may have
                # changed between the Application's read and this watch's start
                for _event in watch.client.watch_object(api_version, ref, WATCH_TIMEOUT):
                    if watch.stop.is_set():
                        return
                    self._wake(watch)
            except Exception as exc:  # any failure: retry, and let the waiting re-read
                log.info("watch of %s failed, retrying in %ss: %s", ref, RETRY, exc)
                self._wake(watch)
                watch.stop.wait(RETRY)

    def _wake(self, watch: _Watch) -> None:
        with self._lock:
            waiting = sorted(watch.waiting)
        for app in waiting:
            self.wake(app)
