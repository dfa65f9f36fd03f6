"""API extensions: CustomResourceDefinitions and aggregated APIServices."""

from __future__ import annotations

from typing import Any

from .fields import condition, str_at
from .status import Health, HealthStatus


def custom_resource_definition(obj: dict[str, Any]) -> Health:
    """Degraded when its names conflict; Healthy once Established."""
    if names := condition(obj, "NamesAccepted", "False"):
        message = str_at(names, "message")
        return Health(HealthStatus.DEGRADED, f"CRD names have not been accepted: {message}")
    if condition(obj, "Established", "True"):
        return Health(HealthStatus.HEALTHY)
    return Health(HealthStatus.PROGRESSING, "Waiting for the CRD to be established")


def api_service(obj: dict[str, Any]) -> Health:
    """Healthy when Available; Progressing until then, never Degraded."""
    available = condition(obj, "Available")
    if available is None:
        return Health(HealthStatus.PROGRESSING, "Waiting for the aggregator to check the service")
    message = f"{str_at(available, 'reason')}: {str_at(available, 'message')}"
    if available.get("status") == "True":
        return Health(HealthStatus.HEALTHY, message)
    # Available=False (e.g. MissingEndpoints) is what a new APIService shows until its
    # backing Deployment is up, so it is Progressing (as in Argo CD), never Degraded.
    return Health(HealthStatus.PROGRESSING, message)
