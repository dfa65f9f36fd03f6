"""The health vocabulary (Argo CD's words) and how several healths add up to one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class Health:
    status: HealthStatus
    message: str = ""


# Degraded is worst: the wait rolls back on it at once, so nothing may mask it. Unknown (an
# unreadable object, a Pod on a lost node) blocks success but must not hide a known failure;
# Argo CD ranks it worst because there it mostly means the health check itself errored.
_ORDER = (
    HealthStatus.HEALTHY,
    HealthStatus.SUSPENDED,
    HealthStatus.PROGRESSING,
    HealthStatus.UNKNOWN,
    HealthStatus.MISSING,
    HealthStatus.DEGRADED,
)


def aggregate(healths: Iterable[HealthStatus]) -> HealthStatus:
    """The worst status; Healthy when there is none.

    Best to worst: Healthy, Suspended, Progressing, Unknown, Missing, Degraded.
    """
    return max(healths, key=_ORDER.index, default=HealthStatus.HEALTHY)
