"""When health may still fail a revision: pure decisions over an Application's status.

A revision's health check starts when it is applied and ends the first time it is
assessed healthy. After that, health never fails it: later degradation is reported (health,
the Ready condition, an Event, the metric) and is drift's and the user's business. The one
exception is an opt-in soak period (``spec.rollback.soakPeriod``): until it ends, a revision
that turns Degraded (not merely Progressing) is still rolled back, and it becomes the last
good revision only when the soak period is over.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def seconds_since(stamp: str, now: str) -> float:
    """Seconds from ``stamp`` to ``now`` (RFC 3339, UTC); infinite when ``stamp`` is empty."""
    if not stamp:
        return float("inf")
    then = datetime.strptime(stamp, TIMESTAMP).replace(tzinfo=UTC)
    return (datetime.strptime(now, TIMESTAMP).replace(tzinfo=UTC) - then).total_seconds()


def health_check_passed(status: dict[str, Any]) -> bool:
    """Whether the applied revision, as last applied, has already turned healthy once."""
    healthy_at = str(status.get("healthyAt") or "")
    applied_at = str(status.get("lastAppliedAt") or "")
    if healthy_at:
        # RFC 3339 UTC stamps of one format order as strings do
        return healthy_at >= applied_at
    # status written before healthyAt existed: the last good revision had passed
    applied = status.get("lastAppliedRevision")
    return bool(applied) and applied == status.get("lastGoodRevision")


def soak_remaining(status: dict[str, Any], soak_period: float, now: str) -> float | None:
    """Seconds left in the applied revision's soak period (0 or less: it is over, promote
    the revision); None when it is not soaking."""
    if soak_period <= 0 or not status.get("healthyAt") or not health_check_passed(status):
        return None
    if status.get("lastGoodRevision") == status.get("lastAppliedRevision"):
        return None
    return soak_period - seconds_since(str(status["healthyAt"]), now)
