"""Reading as little as a health wait needs (``sync.assess_in_wait``).

Right after an apply, the objects the apply wrote are assessed from its answers, and the
others from what the plan read; one the apply left unhealthy is read once more (its
controller may have acted since), unless a watch follows it (``health_watches``: its
health comes from the watch's events, which wake the Application when it settles). In
the passes that follow (every ``HEALTH_POLL`` seconds until healthTimeout, or
``WATCHED_POLL`` when watches follow every object not healthy yet), an object found
Healthy in an earlier pass of the same wait (same Application, revision and apply) is not
read again, nor is one a watch follows; the wait ends when the last of the others is
Healthy. The steady passes after it read every object again (``drift.steady``), so an
object that turns Degraded later is still seen, and within a soak period still rolls the
revision back.

A wait's Progressing Event (and the "pending" commit status it drives) is posted by the
first pass after the apply that still finds the revision not healthy, not by the pass that
applied it: a revision healthy by then is reported once, by its ReconciliationSucceeded.

The memory is per process and per Application: a restarted operator reads everything
(and may post a wait's Progressing Event once more).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..health import Health, HealthStatus
from ..objects import ObjectRef

AppKey = tuple[str, str, str]
"""An Application's namespace, name and uid."""
Wait = tuple[str, str]
"""The revision and when it (or its last wave) was applied: one health wait."""


@dataclass(slots=True)
class HealthWaits:
    """The objects found Healthy in the health wait each Application is in."""

    _healthy: dict[AppKey, tuple[Wait, frozenset[ObjectRef]]] = field(default_factory=dict)
    _announced: dict[AppKey, Wait] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def announce(self, app: AppKey, wait: Wait) -> bool:
        """True the first time it is asked for ``wait`` (its Progressing Event is due)."""
        with self._lock:
            if self._announced.get(app) == wait:
                return False
            self._announced[app] = wait
            return True

    def healthy(self, app: AppKey, wait: Wait) -> frozenset[ObjectRef]:
        with self._lock:
            known = self._healthy.get(app)
        return known[1] if known is not None and known[0] == wait else frozenset()

    def record(self, app: AppKey, wait: Wait, results: list[tuple[ObjectRef, Health]]) -> None:
        healthy = frozenset(ref for ref, h in results if h.status is HealthStatus.HEALTHY)
        with self._lock:
            if len(healthy) == len(results):
                self._healthy.pop(app, None)  # the wait is over
                self._announced.pop(app, None)
            else:
                self._healthy[app] = (wait, healthy)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            for key in [k for k in self._healthy if k[:2] == (namespace, name)]:
                del self._healthy[key]
            for key in [k for k in self._announced if k[:2] == (namespace, name)]:
                del self._announced[key]
