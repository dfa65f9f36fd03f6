"""Health rules per kind.

Each fixture under ``fixtures/health`` is one live object as ``kubectl get -o yaml`` shows
it, named ``<kind>-<expected status>-<detail>.yaml``: the name is the expectation.
"""

import copy
import itertools
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from gitops_operator.health import Health, HealthStatus, aggregate, assess

FIXTURES = Path(__file__).parent / "fixtures" / "health"
FIXTURE_FILES = sorted(FIXTURES.glob("*.yaml"))

# Every kind with its own rule, plus kinds that exercise the kstatus fallback.
BUILT_IN = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "Pod": "v1",
    "Job": "batch/v1",
    "PersistentVolumeClaim": "v1",
    "Service": "v1",
    "Ingress": "networking.k8s.io/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "CustomResourceDefinition": "apiextensions.k8s.io/v1",
    "APIService": "apiregistration.k8s.io/v1",
}
FALLBACK_WITH_CONDITIONS = {"Kustomization", "Certificate"}

BEST_TO_WORST = [
    HealthStatus.HEALTHY,
    HealthStatus.SUSPENDED,
    HealthStatus.PROGRESSING,
    HealthStatus.UNKNOWN,
    HealthStatus.MISSING,
    HealthStatus.DEGRADED,
]


def load(name):
    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())


def kind_and_status(path):
    kind, status = path.stem.split("-")[:2]
    return kind, HealthStatus(status.capitalize())


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_has_the_health_its_name_states(path):
    obj = yaml.safe_load(path.read_text())
    kind, expected = kind_and_status(path)
    assert obj["kind"].lower() == kind, "the file name must start with the object's kind"
    assert assess(obj).status == expected


def test_every_kind_has_a_healthy_and_an_unhealthy_fixture():
    states = defaultdict(set)
    for path in FIXTURE_FILES:
        kind, status = kind_and_status(path)
        states[kind].add(status)
    for kind in [k.lower() for k in [*BUILT_IN, *FALLBACK_WITH_CONDITIONS]]:
        assert HealthStatus.HEALTHY in states[kind], kind
        assert states[kind] - {HealthStatus.HEALTHY}, kind


# Deployment


def test_deployment_with_unavailable_replicas_is_progressing():
    health = assess(load("deployment-progressing-unavailable"))
    assert health == Health(
        HealthStatus.PROGRESSING,
        "Waiting for rollout to finish: 1 of 3 updated replicas are available...",
    )


def test_deployment_mid_rollout_reports_updated_replicas():
    health = assess(load("deployment-progressing-rollout"))
    assert health.message == (
        "Waiting for rollout to finish: 1 out of 3 new replicas have been updated..."
    )


def test_deployment_with_old_replicas_left_is_progressing():
    health = assess(load("deployment-progressing-old-replicas"))
    assert health.message.endswith("1 old replicas are pending termination...")


def test_deployment_past_its_progress_deadline_is_degraded():
    health = assess(load("deployment-degraded-deadline-exceeded"))
    assert health == Health(
        HealthStatus.DEGRADED, 'Deployment "api" exceeded its progress deadline'
    )


def test_deployment_without_replicas_waits_for_one():
    obj = load("deployment-healthy-available")
    del obj["spec"]["replicas"]
    obj["status"].update(replicas=0, updatedReplicas=0, availableReplicas=0, readyReplicas=0)
    assert assess(obj).message.endswith("0 out of 1 new replicas have been updated...")


def test_new_deployment_without_status_is_progressing():
    obj = load("deployment-healthy-available")
    del obj["status"]
    assert assess(obj).status == HealthStatus.PROGRESSING


# StatefulSet, DaemonSet, ReplicaSet


def test_statefulset_with_on_delete_strategy_is_healthy_with_old_pods():
    assert assess(load("statefulset-healthy-ondelete")).status == HealthStatus.HEALTHY


def test_statefulset_pods_below_the_partition_may_stay_on_the_old_revision():
    obj = load("statefulset-healthy-partitioned")
    assert assess(obj).status == HealthStatus.HEALTHY
    obj["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 1
    assert assess(obj).message.endswith("1 out of 2 new pods have been updated...")


def test_statefulset_with_revisions_apart_is_progressing():
    obj = load("statefulset-healthy-rolled-out")
    obj["status"]["updateRevision"] = "postgres-8f7e6d5c4b"
    assert assess(obj).status == HealthStatus.PROGRESSING


def test_daemonset_with_on_delete_strategy_still_waits_for_available_pods():
    obj = load("daemonset-healthy-ondelete")
    obj["status"]["numberAvailable"] = 2
    assert assess(obj).message.endswith("2 of 3 pods are available...")


def test_replicaset_failure_reports_the_condition_message():
    health = assess(load("replicaset-degraded-replica-failure"))
    assert health.message.startswith('pods "worker-x7k2p" is forbidden: exceeded quota')


# Pod


def pod_waiting(reason, phase="Pending"):
    waiting = {"reason": reason, "message": f"{reason} details"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"restartPolicy": "Always"},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "app", "ready": False, "state": {"waiting": waiting}}],
        },
    }


@pytest.mark.parametrize(
    "reason",
    [
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "InvalidImageName",
    ],
)
def test_pod_with_a_container_that_cannot_start_is_degraded(reason):
    assert assess(pod_waiting(reason)) == Health(HealthStatus.DEGRADED, f"app: {reason} details")


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing"])
def test_pod_with_a_container_starting_is_progressing(reason):
    assert assess(pod_waiting(reason)).status == HealthStatus.PROGRESSING


def test_crash_looping_init_container_degrades_a_pending_pod():
    health = assess(load("pod-degraded-init-crashloop"))
    assert health.message.startswith("wait-for-db: back-off 1m20s restarting failed container")


def test_failed_pod_reports_why_its_container_stopped():
    assert assess(load("pod-degraded-oomkilled")).message == "OOMKilled"


def test_failed_pod_without_messages_reports_the_exit_code():
    obj = load("pod-degraded-oomkilled")
    obj["status"]["containerStatuses"][0]["state"]["terminated"] = {"exitCode": 2}
    assert assess(obj).message == 'container "export" failed with exit code 2'


def test_running_pod_that_runs_to_completion_is_progressing():
    obj = load("pod-healthy-running")
    obj["spec"]["restartPolicy"] = "Never"
    assert assess(obj).status == HealthStatus.PROGRESSING


def test_pod_without_ready_condition_is_ready_when_all_containers_are():
    obj = load("pod-healthy-running")
    obj["status"]["conditions"] = []
    assert assess(obj).status == HealthStatus.HEALTHY
    obj["status"]["containerStatuses"][0]["ready"] = False
    assert assess(obj).status == HealthStatus.PROGRESSING


# Job, Service, Ingress, HPA, CRD, APIService


def test_failed_job_reports_the_condition_message():
    health = assess(load("job-degraded-backoff-limit"))
    assert health == Health(HealthStatus.DEGRADED, "Job has reached the specified backoff limit")


def test_load_balancer_service_without_address_is_progressing():
    assert assess(load("service-progressing-loadbalancer-pending")).status == (
        HealthStatus.PROGRESSING
    )


def test_ingress_without_load_balancer_address_is_healthy():
    # Unlike Argo CD: many ingress controllers never publish an address.
    assert assess(load("ingress-healthy-without-address")).status == HealthStatus.HEALTHY


def test_autoscaler_v1_conditions_are_read_from_the_annotation():
    health = assess(load("horizontalpodautoscaler-degraded-v1-failed-get-scale"))
    assert "unable to get the target's current scale" in health.message


def test_autoscaler_with_unreadable_v1_annotation_waits():
    obj = load("horizontalpodautoscaler-degraded-v1-failed-get-scale")
    obj["metadata"]["annotations"]["autoscaling.alpha.kubernetes.io/conditions"] = "{not json"
    assert assess(obj).status == HealthStatus.PROGRESSING


def test_autoscaler_scaled_to_zero_is_not_degraded():
    assert assess(load("horizontalpodautoscaler-healthy-scaled-to-zero")).status == (
        HealthStatus.HEALTHY
    )


def test_crd_with_a_names_conflict_reports_it():
    health = assess(load("customresourcedefinition-degraded-names-conflict"))
    assert health.message == 'CRD names have not been accepted: "wd" is already in use'


def test_unavailable_apiservice_is_progressing_and_reports_the_condition():
    health = assess(load("apiservice-progressing-missing-endpoints"))
    assert health.status is HealthStatus.PROGRESSING
    assert health.message.startswith("MissingEndpoints: endpoints for service/metrics-server")


# kstatus fallback


def test_stalled_wins_over_reconciling():
    obj = load("kustomization-progressing-reconciling")
    obj["status"]["conditions"].append({"type": "Stalled", "status": "True", "message": "bad"})
    assert assess(obj) == Health(HealthStatus.DEGRADED, "bad")


def test_ready_condition_for_an_older_generation_is_progressing():
    obj = load("certificate-healthy-ready")
    obj["metadata"]["generation"] = 2
    assert assess(obj).status == HealthStatus.PROGRESSING


def test_custom_resource_without_status_is_healthy():
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"generation": 4}}
    assert assess(obj) == Health(HealthStatus.HEALTHY)


def test_custom_kind_named_like_a_built_in_uses_the_kstatus_rules():
    obj = {"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"generation": 1}}
    assert assess(obj).status == HealthStatus.HEALTHY


# Any kind


def test_object_being_deleted_is_progressing():
    obj = load("configmap-healthy")
    obj["metadata"]["deletionTimestamp"] = "2025-03-06T15:00:00Z"
    assert assess(obj) == Health(HealthStatus.PROGRESSING, "Pending deletion")


def test_object_not_found_is_missing():
    assert assess(None).status == HealthStatus.MISSING


def test_object_without_kind_is_unknown():
    assert assess({"apiVersion": "v1", "metadata": {"name": "x"}}).status == HealthStatus.UNKNOWN


@pytest.mark.parametrize("kind", sorted(BUILT_IN))
def test_malformed_object_does_not_raise(kind):
    garbage = {
        "apiVersion": BUILT_IN[kind],
        "kind": kind,
        "metadata": {"generation": True, "annotations": None},
        "spec": {"replicas": "three", "updateStrategy": "OnDelete", "paused": "yes"},
        "status": {
            "conditions": [1, "Ready", None, {"type": None}],
            "containerStatuses": {"name": "app"},
            "replicas": True,
            "phase": 7,
        },
    }
    assert isinstance(assess(garbage), Health)
    assert isinstance(assess({**garbage, "status": "oops", "spec": None}), Health)


def test_assess_does_not_change_its_input():
    obj = load("pod-degraded-crashloop")
    before = copy.deepcopy(obj)
    assess(obj)
    assert obj == before


# aggregate


def test_aggregate_of_nothing_is_healthy():
    assert aggregate([]) == HealthStatus.HEALTHY


@pytest.mark.parametrize(
    ("better", "worse"), list(itertools.combinations(BEST_TO_WORST, 2)), ids=str
)
def test_aggregate_is_the_worst_status(better, worse):
    assert aggregate([better, worse]) == worse
    assert aggregate(iter([worse, better, better])) == worse


def test_degraded_is_not_masked_by_unknown_or_missing():
    # A known failure must reach rollback even while another object cannot be read.
    statuses = [HealthStatus.UNKNOWN, HealthStatus.DEGRADED, HealthStatus.MISSING]
    assert aggregate(statuses) == HealthStatus.DEGRADED


def test_failed_pod_reports_the_exit_code_rather_than_the_word_error():
    obj = load("pod-degraded-oomkilled")
    obj["status"]["containerStatuses"][0]["state"]["terminated"].update(reason="Error", exitCode=3)
    assert assess(obj).message == 'container "export" failed with exit code 3'


def test_pod_not_ready_after_a_restart_says_why_its_container_stopped():
    health = assess(load("pod-degraded-restarted-not-ready"))
    assert health.message == "web: OOMKilled (exit code 137)"
