"""HorizontalPodAutoscaler in every API version: autoscaling/v2 keeps its conditions in
``status.conditions``, autoscaling/v1 in an annotation."""

from __future__ import annotations

import json
from typing import Any

from .fields import get_at, status_items, str_at
from .status import Health, HealthStatus


def horizontal_pod_autoscaler(obj: dict[str, Any]) -> Health:
    """Degraded when it cannot scale its target or its spec is wrong; Progressing until
    it reports conditions; else Healthy (missing metrics included)."""
    conditions = status_items(obj, "conditions") or _hpa_v1_conditions(obj)
    if not conditions:
        return Health(HealthStatus.PROGRESSING, "Waiting for the autoscaler to observe its target")
    for cond in conditions:
        # ScalingDisabled (target scaled to zero) is the one False that is not a failure.
        failing = cond.get("status") == "False" and cond.get("reason") != "ScalingDisabled"
        message = str_at(cond, "message") or str_at(cond, "reason")
        if failing and cond.get("type") == "AbleToScale":
            if cond.get("reason") in _HPA_SCALE_ERRORS:
                return Health(HealthStatus.DEGRADED, message)
            continue  # backing off after a recent rescale: it will scale again
        if failing and cond.get("type") == "ScalingActive":
            if cond.get("reason") in _HPA_SPEC_ERRORS:
                return Health(HealthStatus.DEGRADED, message)
            # Missing metrics are normal for a minute after new pods start, and for good on
            # clusters without a metrics API: the autoscaler is in place and its target
            # keeps its replicas, so this never holds up or fails a rollout (Argo CD calls
            # it Degraded; see the README).
            return Health(HealthStatus.HEALTHY, f"not scaling: {message}")
    return Health(HealthStatus.HEALTHY)


# AbleToScale=False reasons that mean the target cannot be read or scaled (as Argo CD).
_HPA_SCALE_ERRORS = frozenset({"FailedGetScale", "FailedUpdateScale"})


# ScalingActive=False reasons that are a mistake in the autoscaler's own spec, which a new
# revision can introduce; every other reason there is missing metrics.
_HPA_SPEC_ERRORS = frozenset({"InvalidSelector", "InvalidMetricSourceType"})


def _hpa_v1_conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    # autoscaling/v1 has no status.conditions; the API server serialises them here.
    raw = get_at(obj, "metadata", "annotations", "autoscaling.alpha.kubernetes.io/conditions")
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return []
    return [c for c in parsed if isinstance(c, dict)] if isinstance(parsed, list) else []
