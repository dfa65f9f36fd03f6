"""Health of a live object: per-kind rules in the manner of Argo CD, a kstatus fallback.

Pure: only the object's own JSON is read, so the same object always gets the same answer.
Malformed fields are read as absent rather than raising: a health check that crashes would
stall the wait instead of reporting what it can.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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


def assess(obj: dict[str, Any] | None) -> Health:
    """The health of one live object; ``None`` (not found in the cluster) is Missing."""
    if obj is None:
        return Health(HealthStatus.MISSING, "Resource does not exist")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        return Health(HealthStatus.UNKNOWN, "Object has no kind")
    if _get(obj, "metadata", "deletionTimestamp"):
        return Health(HealthStatus.PROGRESSING, "Pending deletion")
    api_version = obj.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    return _CHECKS.get((group, kind), _generic)(obj)


def _deployment(obj: dict[str, Any]) -> Health:
    if _get(obj, "spec", "paused") is True:
        return Health(HealthStatus.SUSPENDED, "Deployment is paused")
    if _generation_behind(obj):
        return _progressing("observed deployment generation less than desired generation")
    if _text(_condition(obj, "Progressing"), "reason") == "ProgressDeadlineExceeded":
        name = _get(obj, "metadata", "name")
        return Health(HealthStatus.DEGRADED, f'Deployment "{name}" exceeded its progress deadline')
    want = _int(obj, "spec", "replicas", default=1)
    replicas = _int(obj, "status", "replicas")
    updated = _int(obj, "status", "updatedReplicas")
    available = _int(obj, "status", "availableReplicas")
    if updated < want:
        return _progressing(f"{updated} out of {want} new replicas have been updated...")
    if replicas > updated:
        return _progressing(f"{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return _progressing(f"{available} of {updated} updated replicas are available...")
    return Health(HealthStatus.HEALTHY)


def _statefulset(obj: dict[str, Any]) -> Health:
    if _generation_behind(obj):
        return _progressing("observed statefulset generation less than desired generation")
    want = _int(obj, "spec", "replicas", default=1)
    ready = _int(obj, "status", "readyReplicas")
    if ready < want:
        return _progressing(f"{ready} of {want} pods are ready...")
    if _get(obj, "spec", "updateStrategy", "type") == "OnDelete":
        # Pods move to the new revision only when someone deletes them: waiting for that
        # would never end, so ready pods are enough.
        return Health(HealthStatus.HEALTHY, f"StatefulSet has {ready} ready pods (OnDelete)")
    # Pods below the partition ordinal stay on the old revision by design.
    partition = _int(obj, "spec", "updateStrategy", "rollingUpdate", "partition")
    target = max(want - partition, 0)
    updated = _int(obj, "status", "updatedReplicas")
    if updated < target:
        return _progressing(f"{updated} out of {target} new pods have been updated...")
    current, update = _get(obj, "status", "currentRevision"), _get(obj, "status", "updateRevision")
    if partition == 0 and current != update:
        return _progressing(f"not all pods are at revision {update} yet...")
    return Health(HealthStatus.HEALTHY)


def _daemonset(obj: dict[str, Any]) -> Health:
    if _generation_behind(obj):
        return _progressing("observed daemon set generation less than desired generation")
    desired = _int(obj, "status", "desiredNumberScheduled")
    updated = _int(obj, "status", "updatedNumberScheduled")
    available = _int(obj, "status", "numberAvailable")
    # OnDelete: old pods are replaced only when deleted, so only availability is waited for.
    on_delete = _get(obj, "spec", "updateStrategy", "type") == "OnDelete"
    if not on_delete and updated < desired:
        return _progressing(f"{updated} out of {desired} new pods have been updated...")
    if available < desired:
        return _progressing(f"{available} of {desired} pods are available...")
    return Health(HealthStatus.HEALTHY)


def _replicaset(obj: dict[str, Any]) -> Health:
    if _generation_behind(obj):
        return _progressing("observed replica set generation less than desired generation")
    if failure := _condition(obj, "ReplicaFailure", "True"):
        return Health(HealthStatus.DEGRADED, _text(failure, "message") or "Replica failure")
    want = _int(obj, "spec", "replicas", default=1)
    available = _int(obj, "status", "availableReplicas")
    if available < want:
        return _progressing(f"{available} out of {want} replicas are available...")
    return Health(HealthStatus.HEALTHY)


def _pod(obj: dict[str, Any]) -> Health:
    phase = _get(obj, "status", "phase")
    message = _text(_get(obj, "status"), "message")
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
    if _get(obj, "spec", "restartPolicy") in ("Never", "OnFailure"):
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
        waiting = _get(c, "state", "waiting")
        reason = _text(waiting, "reason")
        # The kubelet names these reasons by pattern (ErrImagePull, CrashLoopBackOff,
        # CreateContainerConfigError); InvalidImageName is the one exception.
        if reason.startswith(("Err", "InvalidImageName")) or reason.endswith(("Error", "BackOff")):
            stuck.append(f"{_text(c, 'name')}: {_text(waiting, 'message') or reason}")
    return stuck


def _restarted_containers(obj: dict[str, Any]) -> list[str]:
    """``name: why it last stopped`` for each app container that terminated before."""
    restarted = []
    for c in _status_items(obj, "containerStatuses"):
        last = _get(c, "lastState", "terminated")
        if isinstance(last, dict):
            why = _text(last, "message") or _text(last, "reason") or "terminated"
            restarted.append(f"{_text(c, 'name')}: {why} (exit code {_int(last, 'exitCode')})")
    return restarted


def _pod_ready(obj: dict[str, Any]) -> bool:
    # The Ready condition includes readiness gates; container flags are the fallback.
    ready = _condition(obj, "Ready")
    if ready is not None:
        return ready.get("status") == "True"
    statuses = _status_items(obj, "containerStatuses")
    return bool(statuses) and all(c.get("ready") is True for c in statuses)


def _pod_failure(obj: dict[str, Any]) -> str:
    for c in _containers(obj):
        terminated = _get(c, "state", "terminated")
        if not isinstance(terminated, dict):
            continue
        if text := _text(terminated, "message"):
            return text
        if _text(terminated, "reason") == "OOMKilled":
            return "OOMKilled"
        if code := _int(terminated, "exitCode"):
            return f'container "{_text(c, "name")}" failed with exit code {code}'
    return _text(_get(obj, "status"), "reason") or "Pod failed"


def _job(obj: dict[str, Any]) -> Health:
    # FailureTarget precedes Failed while the failed Job's pods are terminated.
    failed = _condition(obj, "Failed", "True") or _condition(obj, "FailureTarget", "True")
    if failed:
        return Health(HealthStatus.DEGRADED, _text(failed, "message") or "Job failed")
    if complete := _condition(obj, "Complete", "True"):
        return Health(HealthStatus.HEALTHY, _text(complete, "message") or "Job completed")
    if _get(obj, "spec", "suspend") is True or _condition(obj, "Suspended", "True"):
        return Health(HealthStatus.SUSPENDED, "Job is suspended")
    active = _int(obj, "status", "active")
    return Health(HealthStatus.PROGRESSING, f"Job is running: {active} active pods")


def _pvc(obj: dict[str, Any]) -> Health:
    phase = _get(obj, "status", "phase")
    if phase == "Bound":
        return Health(HealthStatus.HEALTHY)
    if phase == "Lost":
        return Health(HealthStatus.DEGRADED, "Claim lost its PersistentVolume")
    if phase in (None, "Pending"):
        return Health(HealthStatus.PROGRESSING, "Waiting for the claim to be bound")
    return Health(HealthStatus.UNKNOWN, f"Claim phase is {phase}")


def _service(obj: dict[str, Any]) -> Health:
    addresses = _get(obj, "status", "loadBalancer", "ingress")
    if _get(obj, "spec", "type") == "LoadBalancer" and not addresses:
        return Health(HealthStatus.PROGRESSING, "Waiting for the load balancer address")
    return Health(HealthStatus.HEALTHY)


def _ingress(obj: dict[str, Any]) -> Health:
    # Healthy without a load balancer address, unlike Argo CD (argo-cd#14607): many
    # controllers never publish one, and waiting for it would roll back good revisions.
    return Health(HealthStatus.HEALTHY)


def _hpa(obj: dict[str, Any]) -> Health:
    conditions = _status_items(obj, "conditions") or _hpa_v1_conditions(obj)
    if not conditions:
        return Health(HealthStatus.PROGRESSING, "Waiting for the autoscaler to observe its target")
    for cond in conditions:
        # ScalingDisabled (target scaled to zero) is the one False that is not a failure.
        failing = cond.get("status") == "False" and cond.get("reason") != "ScalingDisabled"
        message = _text(cond, "message") or _text(cond, "reason")
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
    raw = _get(obj, "metadata", "annotations", "autoscaling.alpha.kubernetes.io/conditions")
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return []
    return [c for c in parsed if isinstance(c, dict)] if isinstance(parsed, list) else []


def _crd(obj: dict[str, Any]) -> Health:
    if names := _condition(obj, "NamesAccepted", "False"):
        message = _text(names, "message")
        return Health(HealthStatus.DEGRADED, f"CRD names have not been accepted: {message}")
    if _condition(obj, "Established", "True"):
        return Health(HealthStatus.HEALTHY)
    return Health(HealthStatus.PROGRESSING, "Waiting for the CRD to be established")


def _apiservice(obj: dict[str, Any]) -> Health:
    available = _condition(obj, "Available")
    if available is None:
        return Health(HealthStatus.PROGRESSING, "Waiting for the aggregator to check the service")
    message = f"{_text(available, 'reason')}: {_text(available, 'message')}"
    if available.get("status") == "True":
        return Health(HealthStatus.HEALTHY, message)
    # Available=False (e.g. MissingEndpoints) is what a new APIService shows until its
    # backing Deployment is up, so it is Progressing (as in Argo CD), never Degraded.
    return Health(HealthStatus.PROGRESSING, message)


def _generic(obj: dict[str, Any]) -> Health:
    """kstatus rules: Stalled, Reconciling, Ready and observedGeneration; else Current."""
    generation = _int(obj, "metadata", "generation")
    # Only objects whose controller reports observedGeneration can be behind.
    observed = _int(obj, "status", "observedGeneration", default=generation)
    if observed < generation:
        message = f"generation is {generation}, but latest observed generation is {observed}"
        return Health(HealthStatus.PROGRESSING, message)
    if stalled := _condition(obj, "Stalled", "True"):
        return Health(HealthStatus.DEGRADED, _text(stalled, "message") or "Stalled")
    if reconciling := _condition(obj, "Reconciling", "True"):
        return Health(HealthStatus.PROGRESSING, _text(reconciling, "message") or "Reconciling")
    ready = _condition(obj, "Ready")
    if ready is None:
        # No kstatus conditions (ConfigMap, Secret, RBAC...): present means current.
        return Health(HealthStatus.HEALTHY)
    message = _text(ready, "message")
    if ready.get("status") != "True":
        return Health(HealthStatus.PROGRESSING, message or "Waiting for Ready")
    if _int(ready, "observedGeneration", default=generation) < generation:
        return Health(HealthStatus.PROGRESSING, "Ready condition is for an older generation")
    return Health(HealthStatus.HEALTHY, message)


_CHECKS: dict[tuple[str, str], Callable[[dict[str, Any]], Health]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("", "Pod"): _pod,
    ("batch", "Job"): _job,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
    ("apiregistration.k8s.io", "APIService"): _apiservice,
}


def _progressing(detail: str) -> Health:
    return Health(HealthStatus.PROGRESSING, f"Waiting for rollout to finish: {detail}")


def _generation_behind(obj: dict[str, Any]) -> bool:
    # A missing observedGeneration reads as 0: the controller has not looked yet.
    return _int(obj, "metadata", "generation") > _int(obj, "status", "observedGeneration")


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _int(obj: Any, *path: str, default: int = 0) -> int:
    value = _get(obj, *path)
    # bool is an int subclass; a stray true must not read as 1 replica.
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _text(obj: Any, key: str) -> str:
    value = _get(obj, key)
    return value if isinstance(value, str) else ""


def _status_items(obj: dict[str, Any], field: str) -> list[dict[str, Any]]:
    raw = _get(obj, "status", field)
    return [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []


def _condition(obj: dict[str, Any], kind: str, status: str = "") -> dict[str, Any] | None:
    """The condition of type ``kind``; with ``status``, only when it has that status."""
    for cond in _status_items(obj, "conditions"):
        if cond.get("type") == kind:
            return cond if not status or cond.get("status") == status else None
    return None


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return _status_items(obj, "initContainerStatuses") + _status_items(obj, "containerStatuses")
