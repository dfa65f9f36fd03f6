"""Core kinds: Pod (by phase, restart policy and container states), PersistentVolumeClaim
and Service."""

from __future__ import annotations

from typing import Any

from .fields import condition, get_at, int_at, status_items, str_at
from .status import Health, HealthStatus


def pod(obj: dict[str, Any]) -> Health:
    """Succeeded is Healthy, Failed or a container that cannot start Degraded; a running
    Pod is Healthy when Ready, unless it runs to completion."""
    phase = get_at(obj, "status", "phase")
    message = str_at(get_at(obj, "status"), "message")
    if phase == "Succeeded":
        return Health(HealthStatus.HEALTHY, message or "Pod completed")
    if phase == "Failed":
        return Health(HealthStatus.DEGRADED, message or _pod_failure(obj))
    if stuck := _stuck_containers(obj):
        return Health(HealthStatus.DEGRADED, "; ".join(stuck))
    if phase in (None, "Pending"):
        return Health(HealthStatus.PROGRESSING, message or "Pod is pending")
    if phase != "Running":
        return Health(HealthStatus.UNKNOWN, message or f"Pod phase is {phase}")
    if get_at(obj, "spec", "restartPolicy") in ("Never", "OnFailure"):
        # A run-to-completion Pod is healthy when it succeeds, not while it runs.
        return Health(HealthStatus.PROGRESSING, message or "Pod is running to completion")
    if _pod_ready(obj):
        return Health(HealthStatus.HEALTHY, message)
    if restarted := _restarted_containers(obj):
        # Not ready after a container died: it crashed or was killed, and a restart has
        # not brought it back (Argo CD's rule, before CrashLoopBackOff shows).
        return Health(HealthStatus.DEGRADED, message or "; ".join(restarted))
    return Health(HealthStatus.PROGRESSING, message or "Pod is running but not ready")


def _stuck_containers(obj: dict[str, Any]) -> list[str]:
    """``name: message`` for each container the kubelet cannot start or keep running."""
    stuck = []
    # Init containers count too: a crash-looping init container keeps the Pod Pending.
    for c in _containers(obj):
        waiting = get_at(c, "state", "waiting")
        reason = str_at(waiting, "reason")
        # The kubelet names these reasons by pattern (ErrImagePull, CrashLoopBackOff,
        # CreateContainerConfigError); InvalidImageName is the one exception.
        if reason.startswith(("Err", "InvalidImageName")) or reason.endswith(("Error", "BackOff")):
            stuck.append(f"{str_at(c, 'name')}: {str_at(waiting, 'message') or reason}")
    return stuck


def _restarted_containers(obj: dict[str, Any]) -> list[str]:
    """``name: why it last stopped`` for each app container that terminated before."""
    restarted = []
    for c in status_items(obj, "containerStatuses"):
        last = get_at(c, "lastState", "terminated")
        if isinstance(last, dict):
            why = str_at(last, "message") or str_at(last, "reason") or "terminated"
            restarted.append(f"{str_at(c, 'name')}: {why} (exit code {int_at(last, 'exitCode')})")
    return restarted


def _pod_ready(obj: dict[str, Any]) -> bool:
    # The Ready condition includes readiness gates; container flags are the fallback.
    ready = condition(obj, "Ready")
    if ready is not None:
        return ready.get("status") == "True"
    statuses = status_items(obj, "containerStatuses")
    return bool(statuses) and all(c.get("ready") is True for c in statuses)


def _pod_failure(obj: dict[str, Any]) -> str:
    for c in _containers(obj):
        terminated = get_at(c, "state", "terminated")
        if not isinstance(terminated, dict):
            continue
        if text := str_at(terminated, "message"):
            return text
        if str_at(terminated, "reason") == "OOMKilled":
            return "OOMKilled"
        if code := int_at(terminated, "exitCode"):
            return f'container "{str_at(c, "name")}" failed with exit code {code}'
    return str_at(get_at(obj, "status"), "reason") or "Pod failed"


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return status_items(obj, "initContainerStatuses") + status_items(obj, "containerStatuses")


def persistent_volume_claim(obj: dict[str, Any]) -> Health:
    """Bound is Healthy, Lost Degraded, Pending Progressing."""
    phase = get_at(obj, "status", "phase")
    if phase == "Bound":
        return Health(HealthStatus.HEALTHY)
    if phase == "Lost":
        return Health(HealthStatus.DEGRADED, "Claim lost its PersistentVolume")
    if phase in (None, "Pending"):
        return Health(HealthStatus.PROGRESSING, "Waiting for the claim to be bound")
    return Health(HealthStatus.UNKNOWN, f"Claim phase is {phase}")


def service(obj: dict[str, Any]) -> Health:
    """A LoadBalancer is Progressing until it has an address; other types are Healthy."""
    addresses = get_at(obj, "status", "loadBalancer", "ingress")
    if get_at(obj, "spec", "type") == "LoadBalancer" and not addresses:
        return Health(HealthStatus.PROGRESSING, "Waiting for the load balancer address")
    return Health(HealthStatus.HEALTHY)
