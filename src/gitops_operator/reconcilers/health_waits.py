"""Reading as little as a health wait needs (``sync.assess_in_wait``).

Right after an apply, the objects the apply wrote are assessed from its answers, and the
others from what the plan read: no object is read again. In the passes that follow (every
``HEALTH_POLL`` seconds until healthTimeout), an object found Healthy in an earlier pass of
the same wait (same Application, revision and apply) is not read again; the wait ends when
the last of the others is Healthy. The steady passes after it read every object again
(``drift.steady``), so an object that turns Degraded later is still seen, and within a
soak period still rolls the revision back.

The memory is per process and per Application: a restarted operator reads everything.
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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def healthy(self, app: AppKey, wait: Wait) -> frozenset[ObjectRef]:
        with self._lock:
            known = self._healthy.get(app)
        return known[1] if known is not None and known[0] == wait else frozenset()

    def record(self, app: AppKey, wait: Wait, results: list[tuple[ObjectRef, Health]]) -> None:
        healthy = frozenset(ref for ref, h in results if h.status is HealthStatus.HEALTHY)
        with self._lock:
            if len(healthy) == len(results):
                self._healthy.pop(app, None)  # the wait is over
            else:
                self._healthy[app] = (wait, healthy)

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            for key in [k for k in self._healthy if k[:2] == (namespace, name)]:
                del self._healthy[key]
