"""Ingress."""

from __future__ import annotations

from typing import Any

from .status import Health, HealthStatus


def ingress(obj: dict[str, Any]) -> Health:
    """Healthy, with or without a load balancer address."""
    # Healthy without a load balancer address, unlike Argo CD (argo-cd#14607): many
    # controllers never publish one, and waiting for it would roll back good revisions.
    return Health(HealthStatus.HEALTHY)
