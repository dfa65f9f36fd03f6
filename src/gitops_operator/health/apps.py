"""Workloads of the apps group: Deployment, StatefulSet, DaemonSet, ReplicaSet (the rules of
``kubectl rollout status``, as Argo CD)."""

from __future__ import annotations

from typing import Any

from .fields import condition, generation_behind, get_at, int_at, progressing, str_at
from .status import Health, HealthStatus


def deployment(obj: dict[str, Any]) -> Health:
    """Paused is Suspended, past its progress deadline Degraded; Healthy once every
    replica is updated and available."""
    if get_at(obj, "spec", "paused") is True:
        return Health(HealthStatus.SUSPENDED, "Deployment is paused")
    if generation_behind(obj):
        return progressing("observed deployment generation less than desired generation")
    if str_at(condition(obj, "Progressing"), "reason") == "ProgressDeadlineExceeded":
        name = get_at(obj, "metadata", "name")
        return Health(HealthStatus.DEGRADED, f'Deployment "{name}" exceeded its progress deadline')
    want = int_at(obj, "spec", "replicas", default=1)
    replicas = int_at(obj, "status", "replicas")
    updated = int_at(obj, "status", "updatedReplicas")
    available = int_at(obj, "status", "availableReplicas")
    if updated < want:
        return progressing(f"{updated} out of {want} new replicas have been updated...")
    if replicas > updated:
        return progressing(f"{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return progressing(f"{available} of {updated} updated replicas are available...")
    return Health(HealthStatus.HEALTHY)


def statefulset(obj: dict[str, Any]) -> Health:
    """Healthy once every pod is ready and, above the partition, at the update revision
    (OnDelete: ready is enough)."""
    if generation_behind(obj):
        return progressing("observed statefulset generation less than desired generation")
    want = int_at(obj, "spec", "replicas", default=1)
    ready = int_at(obj, "status", "readyReplicas")
    if ready < want:
        return progressing(f"{ready} of {want} pods are ready...")
    if get_at(obj, "spec", "updateStrategy", "type") == "OnDelete":
        # Pods move to the new revision only when someone deletes them: waiting for that
        # would never end, so ready pods are enough.
        return Health(HealthStatus.HEALTHY, f"StatefulSet has {ready} ready pods (OnDelete)")
    # Pods below the partition ordinal stay on the old revision by design.
    partition = int_at(obj, "spec", "updateStrategy", "rollingUpdate", "partition")
    target = max(want - partition, 0)
    updated = int_at(obj, "status", "updatedReplicas")
    if updated < target:
        return progressing(f"{updated} out of {target} new pods have been updated...")
    current, update = (
        get_at(obj, "status", "currentRevision"),
        get_at(obj, "status", "updateRevision"),
    )
    if partition == 0 and current != update:
        return progressing(f"not all pods are at revision {update} yet...")
    return Health(HealthStatus.HEALTHY)


def daemonset(obj: dict[str, Any]) -> Health:
    """Healthy once every scheduled pod is updated (unless OnDelete) and available."""
    if generation_behind(obj):
        return progressing("observed daemon set generation less than desired generation")
    desired = int_at(obj, "status", "desiredNumberScheduled")
    updated = int_at(obj, "status", "updatedNumberScheduled")
    available = int_at(obj, "status", "numberAvailable")
    # OnDelete: old pods are replaced only when deleted, so only availability is waited for.
    on_delete = get_at(obj, "spec", "updateStrategy", "type") == "OnDelete"
    if not on_delete and updated < desired:
        return progressing(f"{updated} out of {desired} new pods have been updated...")
    if available < desired:
        return progressing(f"{available} of {desired} pods are available...")
    return Health(HealthStatus.HEALTHY)


def replicaset(obj: dict[str, Any]) -> Health:
    """Degraded on ReplicaFailure; Healthy once every replica is available."""
    if generation_behind(obj):
        return progressing("observed replica set generation less than desired generation")
    if failure := condition(obj, "ReplicaFailure", "True"):
        return Health(HealthStatus.DEGRADED, str_at(failure, "message") or "Replica failure")
    want = int_at(obj, "spec", "replicas", default=1)
    available = int_at(obj, "status", "availableReplicas")
    if available < want:
        return progressing(f"{available} out of {want} replicas are available...")
    return Health(HealthStatus.HEALTHY)
