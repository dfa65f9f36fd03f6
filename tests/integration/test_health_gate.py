"""A revision's health check ends when it first turns healthy: later degradation is
reported, not rolled back, unless a soak period says otherwise. And what status says about
it: counts, drift, the source, Events."""

from __future__ import annotations

import time

import pytest
import yaml

from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef
from localcluster import NEVER_READY_LABEL

from .apps import application, configmap, deployment, repository
from .support import condition, events_for, events_with, get_status, wait_for
from .test_reconcile import get, synced_to


@pytest.fixture
def editor(cluster) -> KubeClient:
    """Someone else changing live objects, as `kubectl edit` would."""
    return KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="kubectl-edit")


def break_rollout(editor: KubeClient, namespace: str, name: str = "web") -> None:
    """A pod-template label change by another field manager: the new pods never become
    ready and the rollout soon exceeds its progress deadline (Degraded)."""
    editor.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "progressDeadlineSeconds": 2,
                "template": {"metadata": {"labels": {NEVER_READY_LABEL: "true"}}},
            },
        }
    )


def mend_rollout(editor: KubeClient, namespace: str, name: str = "web") -> None:
    """The other manager gives its fields up: the template is the applied one again."""
    editor.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
        }
    )


def app_status(kube, namespace):
    return get_status(kube, "Application", namespace, "app")


def health_is(kube, namespace, health):
    status = app_status(kube, namespace)
    return status if status.get("health") == health else None


def test_healthy_revision_that_degrades_later_is_reported_not_failed(
    kube, editor, operator, repo, namespace
):
    good = repo.commit({"app/web.yaml": deployment("web", replicas=2)}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="6s", driftInterval="2s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")

    break_rollout(editor, namespace)
    status = wait_for(lambda: health_is(kube, namespace, "Degraded"), timeout=60, what="Degraded")
    time.sleep(8)  # well past healthTimeout, measured from when the revision was applied
    status = app_status(kube, namespace)
    assert status["health"] == "Degraded"
    assert "failedRevision" not in status, "a revision that passed its health check failed"
    assert status["lastGoodRevision"] == f"main@sha1:{good}"
    assert [h["result"] for h in status["history"]] == ["Succeeded"]
    ready = condition(status)
    assert (ready["status"], ready["reason"]) == ("False", "Degraded")
    assert condition(status, "Stalled") == {}
    assert condition(status, "RolledBack") == {}
    degraded = events_with(kube, namespace, "app", "HealthDegraded")
    events = events_for(kube, namespace, "app")
    assert degraded[0]["type"] == "Warning"
    assert "stays applied" in degraded[0]["message"]
    # Events name the operator, not the framework it is built on
    assert {(e.get("source") or {}).get("component") for e in events} == {"gitops-operator"}

    mend_rollout(editor, namespace)
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="Ready again")
    wait_for(lambda: health_is(kube, namespace, "Healthy"), timeout=30, what="Healthy again")
    wait_for(
        lambda: any(e["reason"] == "HealthRecovered" for e in events_for(kube, namespace, "app")),
        timeout=30,
        what="the HealthRecovered Event",
    )


HPA = yaml.safe_dump(
    {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
    }
)


def scaling_inactive(kube, namespace):
    hpa = get(kube, "HorizontalPodAutoscaler", namespace, "web", "autoscaling/v2") or {}
    conditions = (hpa.get("status") or {}).get("conditions") or []
    return next(
        (c for c in conditions if c["type"] == "ScalingActive" and c["status"] == "False"), None
    )


def test_autoscaler_without_a_metrics_api_does_not_fail_the_rollout(
    kube, operator, repo, namespace
):
    sha = repo.commit({"app/web.yaml": deployment("web"), "app/hpa.yaml": HPA}, "with an HPA")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="40s", driftInterval="2s"))
    # the cluster has no metrics API: the autoscaler says so in ScalingActive=False
    inactive = wait_for(lambda: scaling_inactive(kube, namespace), timeout=60, what="HPA")
    assert inactive["reason"].startswith("FailedGet")
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="Ready with the HPA")
    status = app_status(kube, namespace)
    assert status["health"] == "Healthy"
    assert status["lastGoodRevision"] == f"main@sha1:{sha}"
    assert "failedRevision" not in status


def rolled_back(kube, namespace):
    status = app_status(kube, namespace)
    return status if condition(status, "RolledBack").get("status") == "True" else None


def test_degraded_within_soak_period_rolls_back(kube, editor, operator, repo, namespace):
    good = repo.commit({"app/web.yaml": deployment("web")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(
        application(
            namespace, healthTimeout="20s", driftInterval="2s", rollback={"soakPeriod": "5m"}
        )
    )
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")
    second = repo.commit(
        {"app/web.yaml": deployment("web", replicas=2), "app/extra.yaml": configmap("extra")},
        "second",
    )
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="second revision")
    status = app_status(kube, namespace)
    assert status["healthyAt"]
    assert status["lastGoodRevision"] == f"main@sha1:{good}", "promoted before its soak ended"

    break_rollout(editor, namespace)
    status = wait_for(lambda: rolled_back(kube, namespace), timeout=60, what="RolledBack")
    assert status["failedRevision"] == f"main@sha1:{second}"
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert "soak period" in condition(status, "RolledBack")["message"]
    assert get(kube, "ConfigMap", namespace, "extra") is None
    entry = status["history"][0]
    assert entry["result"] == "RolledBack"
    # what the failed revision changed, and apart from it what the rollback did
    assert entry["changes"] == {"configured": 1, "created": 1}
    assert entry["rollbackChanges"]["deleted"] == 1
    assert status["lastAppliedChanges"] == entry["rollbackChanges"]


def test_revision_becomes_last_good_when_its_soak_period_ends(kube, operator, repo, namespace):
    first = repo.commit({"app/web.yaml": deployment("web")}, "first")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="1s", rollback={"soakPeriod": "4s"}))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="first revision")
    second = repo.commit({"app/web.yaml": deployment("web", replicas=2)}, "second")
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="second revision")
    wait_for(
        lambda: app_status(kube, namespace).get("lastGoodRevision") == f"main@sha1:{second}",
        timeout=30,
        what="promotion after the soak period",
    )
    wait_for(  # Events are posted after the status is written
        lambda: any(e["reason"] == "SoakPassed" for e in events_for(kube, namespace, "app")),
        timeout=30,
        what="the SoakPassed Event",
    )


def test_each_revision_counts_only_its_own_changes(kube, operator, repo, namespace):
    files = {f"app/cm-{i}.yaml": configmap(f"cm-{i}", v="1") for i in range(4)}
    first = repo.commit(files, "four ConfigMaps")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="first revision")
    assert app_status(kube, namespace)["lastAppliedChanges"] == {"created": 4}
    second = repo.commit(
        {"app/cm-0.yaml": configmap("cm-0", v="2"), "app/cm-1.yaml": configmap("cm-1", v="2")},
        "two changed",
    )
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="second revision")
    status = app_status(kube, namespace)
    assert status["lastAppliedChanges"] == {"configured": 2, "unchanged": 2}
    assert status["history"][0]["changes"] == {"configured": 2, "unchanged": 2}


def test_drifted_condition_names_the_revision_just_applied(kube, operator, repo, namespace):
    first = repo.commit({"app/cm.yaml": configmap("cm", v="1")}, "first")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="10m"))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="first revision")
    second = repo.commit({"app/cm.yaml": configmap("cm", v="2")}, "second")
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="second revision")
    drifted = condition(app_status(kube, namespace), "Drifted")
    assert drifted["status"] == "False"
    assert drifted["message"] == f"live objects match main@sha1:{second}"


def test_failing_source_is_reported_on_its_applications(kube, operator, repo, namespace):
    sha = repo.commit({"app/cm.yaml": configmap("cm")}, "first")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="1s"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="first revision")
    hidden = repo.bare.with_name(repo.bare.name + ".away")
    repo.bare.rename(hidden)  # the Git server answers 404 for it: an outage of the source

    def source_failing():
        return condition(app_status(kube, namespace), "SourceReady").get("status") == "False"

    wait_for(source_failing, timeout=60, what="SourceReady=False on the Application")
    status = app_status(kube, namespace)
    message = condition(status, "SourceReady")["message"]
    assert f"GitRepository/{namespace}/app is failing since" in message
    assert f"main@sha1:{sha} is still the one applied" in message
    assert condition(status)["status"] == "True", "a failing source must not flip Ready"

    hidden.rename(repo.bare)
    wait_for(
        lambda: condition(app_status(kube, namespace), "SourceReady") == {},
        timeout=60,
        what="SourceReady gone once the source fetches again",
    )


def test_waiting_for_a_source_created_together_is_not_a_warning(kube, operator, repo, namespace):
    sha = repo.commit({"app/cm.yaml": configmap("cm")}, "first")
    kube.apply(application(namespace))  # `kubectl apply -f dir/` may create it first
    time.sleep(1)
    kube.apply(repository(namespace, repo.url))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    # a wait of a new Application shorter than the grace is not news: no Event at all
    assert not [e for e in events_for(kube, namespace, "app") if e["reason"] == "SourceNotReady"]


def test_missing_source_is_a_warning_once_it_stays_missing(kube, operator, namespace):
    kube.apply(application(namespace))
    warning = wait_for(
        lambda: [
            e
            for e in events_for(kube, namespace, "app")
            if e["reason"] == "SourceNotReady" and e["type"] == "Warning"
        ],
        timeout=60,
        what="a Warning for a GitRepository that does not exist",
    )
    assert f"GitRepository/{namespace}/app not found" in warning[0]["message"]


def test_a_spec_change_is_health_checked_like_a_new_commit(kube, operator, repo, namespace):
    sha = repo.commit(
        {
            "app/web.yaml": deployment("web"),
            "app/extra/slow.yaml": deployment("slow", never_ready=True),
        },
        "web, and a Deployment left out of the render",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(
        application(
            namespace, healthTimeout="6s", driftInterval="2s", render={"exclude": ["extra/*"]}
        )
    )
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="good revision")
    # the same commit, a new spec: the Deployment whose pods never become ready is rendered
    kube.apply(application(namespace, healthTimeout="6s", driftInterval="2s"))

    def failed_health():
        status = app_status(kube, namespace)
        return status if condition(status).get("reason") == "HealthCheckFailed" else None

    status = wait_for(failed_health, timeout=60, what="the new spec's health check to fail")
    assert status["failedRevision"] == f"main@sha1:{sha}"
    assert "Deployment" in condition(status)["message"]
    assert "gitops-operator retry" in condition(status)["message"]


def edit_color(editor: KubeClient, namespace: str, color: str) -> None:
    """Another field manager sets the ConfigMap's color, as `kubectl edit` would."""
    editor.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm", "namespace": namespace},
            "data": {"color": color},
        }
    )


def test_drift_makes_the_application_out_of_sync_until_it_is_gone(
    kube, editor, operator, repo, namespace
):
    sha = repo.commit({"app/cm.yaml": configmap("cm", color="blue")}, "first")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="1s"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    edit_color(editor, namespace, "red")
    wait_for(
        lambda: app_status(kube, namespace).get("sync") == "OutOfSync",
        timeout=30,
        what="OutOfSync while drifted",
    )
    assert condition(app_status(kube, namespace), "Drifted")["status"] == "True"
    edit_color(editor, namespace, "blue")
    wait_for(
        lambda: app_status(kube, namespace).get("sync") == "Synced",
        timeout=30,
        what="Synced once the drift is gone",
    )


def test_a_first_revision_that_fails_its_health_check_is_released_when_it_turns_healthy(
    kube, editor, operator, repo, namespace
):
    """Nothing to roll back to, so the failed revision stays applied: when its rollout
    finishes after all (here: a node appears for its pods), it is good, not held Stalled
    until someone runs retry."""
    label = f"gitops-test/late-{namespace}"
    web = yaml.safe_load(deployment("web"))
    web["spec"]["progressDeadlineSeconds"] = 2
    web["spec"]["template"]["spec"]["nodeSelector"] = {label: "yes"}
    sha = repo.commit({"app/web.yaml": yaml.safe_dump(web)}, "pods with no node yet")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="30s", driftInterval="2s"))

    def stalled():
        cond = condition(app_status(kube, namespace), "Stalled")
        return cond if cond.get("reason") == "HealthCheckFailed" else None

    wait_for(stalled, timeout=60, what="the first revision to fail its health check")
    status = app_status(kube, namespace)
    assert status["failedRevision"] == status["lastAppliedRevision"] == f"main@sha1:{sha}"
    assert "lastGoodRevision" not in status

    (node, *_) = kube.list("v1", "Node")
    labelled = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node["metadata"]["name"]}}
    editor.apply({**labelled, "metadata": {**labelled["metadata"], "labels": {label: "yes"}}})
    try:
        wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="Ready after all")
    finally:
        editor.apply(labelled)  # the label was this manager's only: it goes
    status = app_status(kube, namespace)
    assert status["health"] == "Healthy"
    assert status["lastGoodRevision"] == f"main@sha1:{sha}"
    assert "failedRevision" not in status
    assert condition(status, "Stalled") == {}
    assert [h["result"] for h in status["history"]] == ["Succeeded", "Failed"]  # newest first
    assert events_with(kube, namespace, "app", "HealthRecovered")


def test_progressing_is_posted_once_and_only_for_a_revision_not_healthy_at_once(
    kube, operator, repo, namespace
):
    quick = repo.commit({"app/cm.yaml": configmap("cm")}, "healthy as soon as applied")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, quick), timeout=60, what="synced")
    assert events_with(kube, namespace, "app", "ReconciliationSucceeded")

    def progressing() -> list[dict]:
        return [e for e in events_for(kube, namespace, "app") if e["reason"] == "Progressing"]

    assert progressing() == []  # healthy at once: reported once, by its success
    slow = repo.commit({"app/web.yaml": deployment("web", never_ready=True)}, "never ready")
    wait_for(
        lambda: (
            get_status(kube, "Application", namespace, "app").get("lastAppliedRevision")
            == f"main@sha1:{slow}"
        ),
        timeout=60,
        what="the slow revision applied",
    )
    wait_for(progressing, timeout=30, what="a Progressing Event for the slow revision")
    time.sleep(6)  # three more health passes
    assert get_status(kube, "Application", namespace, "app").get("health") == "Progressing"
    [event] = progressing()
    assert event["type"] == "Normal" and "become healthy" in event["message"]
    assert event.get("count", 1) in (1, None)
    # posted by the first health pass after the apply (HEALTH_POLL later), not by the apply
    applied_at = get_status(kube, "Application", namespace, "app")["lastAppliedAt"]
    posted = event.get("firstTimestamp") or event.get("first_timestamp")
    assert seconds(str(posted)) - seconds(applied_at) >= 2, (posted, applied_at)


def seconds(stamp: str) -> float:
    """An RFC 3339 time (or its str() as a datetime) as seconds since the epoch."""
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_rollout_that_finishes_late_wakes_its_application_at_once(
    kube, editor, operator, repo, namespace
):
    """Once the health wait has started, its passes are ``WATCHED_POLL`` (15 s) apart:
    the Deployment's own watch events wake the Application when its rollout finishes,
    and the wait reads nothing (the health comes from the watch)."""
    first = repo.commit({"app/web.yaml": deployment("web")}, "a Deployment")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="120s"))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="the first revision")
    label = f"gitops-test/late-{namespace}"
    web = yaml.safe_load(deployment("web"))
    web["spec"]["template"]["spec"]["nodeSelector"] = {label: "yes"}
    late = repo.commit({"app/web.yaml": yaml.safe_dump(web)}, "pods with no node yet")

    def progressing() -> list[dict]:
        return [
            e
            for e in events_for(kube, namespace, "app")
            if e["reason"] == "Progressing" and late[:12] in e["message"]
        ]

    wait_for(progressing, timeout=60, what="the health wait of the late revision")
    assert app_status(kube, namespace)["health"] == "Progressing"
    (node, *_) = kube.list("v1", "Node")
    labelled = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node["metadata"]["name"]}}
    editor.apply({**labelled, "metadata": {**labelled["metadata"], "labels": {label: "yes"}}})
    try:

        def available() -> float | None:
            live = kube.get("apps/v1", ObjectRef("apps", "Deployment", namespace, "web")) or {}
            status = live.get("status") or {}
            done = (
                status.get("observedGeneration") == live["metadata"]["generation"]
                and status.get("updatedReplicas") == status.get("availableReplicas") == 1
                and not status.get("unavailableReplicas")
            )
            return time.monotonic() if done else None

        became_available = wait_for(available, timeout=60, what="the rollout to finish")
        wait_for(lambda: synced_to(kube, namespace, late), timeout=60, what="Ready")
        woken_after = time.monotonic() - became_available
    finally:
        editor.apply(labelled)
    # the next health pass was up to 15 s away: only the watch makes it this quick
    assert woken_after < 8, woken_after
    assert app_status(kube, namespace)["health"] == "Healthy"
