"""Jobs: Complete is Healthy, Failed Degraded, suspended Suspended, else Progressing."""

from __future__ import annotations

from typing import Any

from .fields import condition, get_at, int_at, str_at
from .status import Health, HealthStatus


def job(obj: dict[str, Any]) -> Health:
    """Complete is Healthy, Failed Degraded, suspended Suspended; else Progressing."""
    # FailureTarget precedes Failed while the failed Job's pods are terminated.
    failed = condition(obj, "Failed", "True") or condition(obj, "FailureTarget", "True")
    if failed:
        return Health(HealthStatus.DEGRADED, str_at(failed, "message") or "Job failed")
    if complete := condition(obj, "Complete", "True"):
        return Health(HealthStatus.HEALTHY, str_at(complete, "message") or "Job completed")
    if get_at(obj, "spec", "suspend") is True or condition(obj, "Suspended", "True"):
        return Health(HealthStatus.SUSPENDED, "Job is suspended")
    active = int_at(obj, "status", "active")
    return Health(HealthStatus.PROGRESSING, f"Job is running: {active} active pods")
