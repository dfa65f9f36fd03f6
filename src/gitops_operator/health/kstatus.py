"""Every other kind, by kstatus conventions: Stalled, Reconciling, Ready and
observedGeneration; an object without such conditions is current once it exists."""

from __future__ import annotations

from typing import Any

from .fields import condition, int_at, str_at
from .status import Health, HealthStatus


def by_conditions(obj: dict[str, Any]) -> Health:
    """kstatus rules: Stalled, Reconciling, Ready and observedGeneration; else Current."""
    generation = int_at(obj, "metadata", "generation")
    # Only objects whose controller reports observedGeneration can be behind.
    observed = int_at(obj, "status", "observedGeneration", default=generation)
    if observed < generation:
        message = f"generation is {generation}, but latest observed generation is {observed}"
        return Health(HealthStatus.PROGRESSING, message)
    if stalled := condition(obj, "Stalled", "True"):
        return Health(HealthStatus.DEGRADED, str_at(stalled, "message") or "Stalled")
    if reconciling := condition(obj, "Reconciling", "True"):
        return Health(HealthStatus.PROGRESSING, str_at(reconciling, "message") or "Reconciling")
    ready = condition(obj, "Ready")
    if ready is None:
        # No kstatus conditions (ConfigMap, Secret, RBAC...): present means current.
        return Health(HealthStatus.HEALTHY)
    message = str_at(ready, "message")
    if ready.get("status") != "True":
        return Health(HealthStatus.PROGRESSING, message or "Waiting for Ready")
    if int_at(ready, "observedGeneration", default=generation) < generation:
        return Health(HealthStatus.PROGRESSING, "Ready condition is for an older generation")
    return Health(HealthStatus.HEALTHY, message)
