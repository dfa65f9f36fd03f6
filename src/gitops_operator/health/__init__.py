"""Health of a live object: per-kind rules in the manner of Argo CD, a kstatus fallback,
and rules in CEL per kind (``expressions``) that take precedence over both.

Pure: only the object's own JSON is read, so the same object always gets the same answer.
Malformed fields are read as absent rather than raising: a health check that crashes would
stall the wait instead of reporting what it can.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import apps, autoscaling, batch, core, extensions, kstatus, networking
from .expressions import (
    NO_RULES,
    HealthRules,
    application_rules,
    compile_rules,
    operator_health_checks,
)
from .fields import get_at
from .status import Health, HealthStatus, aggregate

__all__ = [
    "NO_RULES",
    "Health",
    "HealthRules",
    "HealthStatus",
    "aggregate",
    "application_rules",
    "assess",
    "compile_rules",
    "operator_health_checks",
]


def assess(obj: dict[str, Any] | None, rules: HealthRules = NO_RULES) -> Health:
    """The health of one live object; ``None`` (not found in the cluster) is Missing.
    A rule in ``rules`` for the object's apiVersion and kind replaces the built-in one."""
    if obj is None:
        return Health(HealthStatus.MISSING, "Resource does not exist")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        return Health(HealthStatus.UNKNOWN, "Object has no kind")
    if get_at(obj, "metadata", "deletionTimestamp"):
        return Health(HealthStatus.PROGRESSING, "Pending deletion")
    if rules and (rule := rules.rule_for(obj)) is not None:
        return rule.evaluate(obj)
    api_version = obj.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    return _CHECKS.get((group, kind), kstatus.by_conditions)(obj)


_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any]], Health]] = {
    ("apps", "Deployment"): apps.deployment,
    ("apps", "StatefulSet"): apps.statefulset,
    ("apps", "DaemonSet"): apps.daemonset,
    ("apps", "ReplicaSet"): apps.replicaset,
    ("", "Pod"): core.pod,
    ("batch", "Job"): batch.job,
    ("", "PersistentVolumeClaim"): core.persistent_volume_claim,
    ("", "Service"): core.service,
    ("networking.k8s.io", "Ingress"): networking.ingress,
    ("autoscaling", "HorizontalPodAutoscaler"): autoscaling.horizontal_pod_autoscaler,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): extensions.custom_resource_definition,
    ("apiregistration.k8s.io", "APIService"): extensions.api_service,
}
