"""The in-process dispatcher: Events in, deliveries out, never blocking a reconcile.

``publish`` runs on the event loop where the controller posts Events: it matches the
Event against the Alerts kept in memory (RE2 patterns: linear time), takes a token from
the Provider's bucket (a delivery without one is dropped and counted) and queues the
delivery on the Provider's own bounded queue; it does no I/O. Each Provider's queue is
drained in order by one of a few delivery threads, so a slow or failing Provider delays
only its own notifications (a commit's pending status is never sent after its success);
a failed attempt is retried with exponential backoff, a bounded number of times. The
result goes to ``report`` (the Provider's status and the metrics).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .delivery import Delivery
from .matching import matching
from .model import COMMIT_STATUS_TYPES, Alert, NotifyEvent, Provider
from .payloads import commit_state
from .ratelimit import TokenBucket
from .status import Result

log = logging.getLogger("gitops_operator.notify")
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Limits:
    workers: int = 2
    """Delivery threads: Providers delivered to at once."""
    queue: int = 100
    """Deliveries waiting per Provider; more are dropped (counted)."""
    rate: float = 1.0
    """Deliveries per second per Provider, after ``burst``."""
    burst: float = 20.0
    attempts: int = 4
    """Tries of one delivery (the first and its retries)."""
    backoff: float = 1.0
    """Seconds before the first retry; doubled before each next one."""


Report = Callable[[Delivery, Result, float | None], None]
"""(delivery, result, latency in seconds when it was delivered)."""
Drop = Callable[[Provider, str], None]
"""(provider, why: rate_limited or queue_full)."""


@dataclass
class Dispatcher:
    send: Callable[[Delivery], Result]
    report: Report
    drop: Drop
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.monotonic
    alerts: dict[Key, Alert] = field(default_factory=dict)
    providers: dict[Key, Provider] = field(default_factory=dict)
    _buckets: dict[Key, TokenBucket] = field(default_factory=dict)
    _queues: dict[Key, deque[Delivery]] = field(default_factory=dict)
    _draining: set[Key] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _pool: ThreadPoolExecutor | None = None

    def set_alert(self, key: Key, alert: Alert | None) -> None:
        if alert is None:
            self.alerts.pop(key, None)
        else:
            self.alerts[key] = alert

    def set_provider(self, key: Key, provider: Provider | None) -> None:
        if provider is None:
            self.providers.pop(key, None)
            self._buckets.pop(key, None)
        else:
            self.providers[key] = provider

    def publish(self, event: NotifyEvent) -> int:
        """Queue a delivery per matching Alert whose Provider exists and is not
        suspended; returns how many were queued."""
        queued = 0
        for alert in matching(self.alerts.values(), event):
            provider = self.providers.get(alert.provider_key)
            if provider is None or provider.suspend:
                continue
            if provider.type in COMMIT_STATUS_TYPES and commit_state(event) is None:
                continue  # not about a revision's sync: nothing to mark on a commit
            bucket = self._buckets.get(provider.key)
            if bucket is None:
                bucket = TokenBucket(self.limits.rate, self.limits.burst, self.clock)
                self._buckets[provider.key] = bucket
            if not bucket.take():
                self.drop(provider, "rate_limited")
                continue
            if self._enqueue(Delivery(event, alert, provider)):
                queued += 1
            else:
                self.drop(provider, "queue_full")
        return queued

    def _enqueue(self, delivery: Delivery) -> bool:
        key = delivery.provider.key
        with self._lock:
            if self._stopped.is_set():
                return False
            queue = self._queues.setdefault(key, deque())
            if len(queue) >= self.limits.queue:
                return False
            queue.append(delivery)
            if key in self._draining:
                return True
            self._draining.add(key)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="notify")
        self._pool.submit(self._drain, key)
        return True

    def _drain(self, key: Key) -> None:
        """Deliver the Provider's queue in order, until it is empty."""
        while not self._stopped.is_set():
            with self._lock:
                queue = self._queues.get(key)
                if not queue:
                    self._draining.discard(key)
                    self._queues.pop(key, None)
                    return
                delivery = queue.popleft()
            self._deliver(delivery)

    def _deliver(self, delivery: Delivery) -> None:
        result = Result(False, "DeliveryFailed", "not attempted")
        for attempt in range(1, self.limits.attempts + 1):
            try:
                result = self.send(delivery)
            except Exception as exc:  # a bug must not end the drain: reported as a failure
                log.exception("notification delivery raised")
                result = Result(False, "InternalError", f"internal error: {type(exc).__name__}")
            result = Result(
                result.ok, result.reason, result.message, result.code, result.retryable, attempt
            )
            if result.ok or not result.retryable or attempt == self.limits.attempts:
                break
            if self._stopped.wait(self.limits.backoff * 2 ** (attempt - 1)):
                break
        latency = self.clock() - delivery.event.published if result.ok else None
        try:
            self.report(delivery, result, latency)
        except Exception:
            log.exception("reporting a notification delivery failed")

    def stop(self) -> None:
        """Stop delivering: queued deliveries are dropped, retries end."""
        self._stopped.set()
        with self._lock:
            self._queues.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
