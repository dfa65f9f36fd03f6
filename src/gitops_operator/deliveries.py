"""What the webhook receiver remembers about deliveries, within fixed bounds.

``DeliveryMemory`` keeps the IDs of handled deliveries so that a replayed one (a signed
request captured and sent again) wakes nothing; ``RefusalLog`` keeps one log line per
interval about refused ones. Both are pure: memory and a clock, no I/O.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("gitops_operator.webhook")

REFUSAL_LOG_INTERVAL = 60.0
"""Seconds between two log lines about refused deliveries of one provider and reason."""
DELIVERY_TTL = 24 * 3600.0
"""Seconds a delivery ID is remembered."""
MAX_DELIVERIES = 10_000
"""Delivery IDs remembered at most; the oldest are forgotten first."""


@dataclass
class DeliveryMemory:
    """Delivery IDs seen in the last ``ttl`` seconds, at most ``limit`` of them.

    Only deliveries that passed authentication are remembered, so a flood of forged ones
    cannot push genuine IDs out; genuine ones are few (one per push and hook)."""

    ttl: float = DELIVERY_TTL
    limit: int = MAX_DELIVERIES
    clock: Callable[[], float] = time.monotonic
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def claim(self, delivery: str) -> bool:
        """Remember ``delivery``; False if it was already claimed within ``ttl``."""
        now = self.clock()
        while self._seen and next(iter(self._seen.values())) <= now - self.ttl:
            self._seen.popitem(last=False)
        if delivery in self._seen:
            return False
        self._seen[delivery] = now
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return True

    def release(self, delivery: str) -> None:
        """Forget ``delivery`` (its handling failed: the provider's retry is welcome)."""
        self._seen.pop(delivery, None)

    def __len__(self) -> int:
        return len(self._seen)


@dataclass
class RefusalLog:
    """Logs refused deliveries at most once per ``interval`` per (provider, reason).

    A flood of bad deliveries (wrong secret, oversized bodies) must not flood the log:
    the first refusal is logged at once, the next ones only as a count
    (``suppressed=N``) on the first line written after ``interval`` has passed."""

    interval: float = REFUSAL_LOG_INTERVAL
    clock: Callable[[], float] = time.monotonic
    _logged_at: dict[tuple[str, str], float] = field(default_factory=dict)
    _suppressed: dict[tuple[str, str], int] = field(default_factory=dict)

    def refused(self, provider: str, reason: str, message: str) -> None:
        key, now = (provider, reason), self.clock()
        last = self._logged_at.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._logged_at[key] = now
        suppressed = self._suppressed.pop(key, 0)
        since = f" in the last {now - last:.0f}s" if last is not None and suppressed else ""
        log.info(
            "webhook refused provider=%s reason=%s suppressed=%d%s: %s",
            provider,
            reason,
            suppressed,
            since,
            message,
        )
