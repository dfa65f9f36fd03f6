"""Health, automatic rollback to the last good revision, and quarantine."""

from __future__ import annotations

import uuid

import yaml

from gitops_operator.api import API_VERSION, GROUP, REQUESTED_AT_ANNOTATION
from gitops_operator.objects import ObjectRef
from localcluster import NEVER_READY_LABEL

from .apps import application, configmap, deployment, repository
from .support import condition, events_with, get_status, wait_for
from .test_reconcile import get, synced_to


def rolled_back(kube, namespace):
    status = get_status(kube, "Application", namespace, "app")
    return status if condition(status, "RolledBack").get("status") == "True" else None


def reconciled_again(kube, namespace):
    """Request a pass (``requestedAt``) and return the status once the operator has handled
    it (``lastHandledReconcileAt``): proof that a pass ran after everything before."""
    stamp = f"check-{uuid.uuid4().hex[:8]}"
    kube.patch(
        API_VERSION,
        ObjectRef(GROUP, "Application", namespace, "app"),
        {"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: stamp}}},
    )

    def handled():
        status = get_status(kube, "Application", namespace, "app")
        return status if status.get("lastHandledReconcileAt") == stamp else None

    return wait_for(handled, timeout=30, what="the requested reconcile")


def template_labels(kube, namespace):
    live = get(kube, "Deployment", namespace, "web", "apps/v1")
    return live["spec"]["template"]["metadata"]["labels"]


def test_unhealthy_revision_rolls_back_to_last_good_and_stays_quarantined(
    kube, operator, repo, namespace
):
    good = repo.commit({"app/web.yaml": deployment("web", replicas=2)}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="8s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")
    status = get_status(kube, "Application", namespace, "app")
    assert (status["health"], status["lastGoodRevision"]) == ("Healthy", f"main@sha1:{good}")

    bad = repo.commit(
        {
            "app/web.yaml": deployment("web", replicas=2, never_ready=True),
            "app/extra.yaml": configmap("extra"),
        },
        "pods never become ready",
    )
    status = wait_for(lambda: rolled_back(kube, namespace), timeout=60, what="RolledBack")
    assert status["failedRevision"] == f"main@sha1:{bad}"
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    message = condition(status, "RolledBack")["message"]
    assert (
        "did not become healthy within 8s" in message
        and f"rolled back to main@sha1:{good}" in message
    )
    assert condition(status)["status"] == "False"
    entry = status["history"][0]
    assert (entry["result"], entry["rolledBackTo"]) == ("RolledBack", f"main@sha1:{good}")
    assert NEVER_READY_LABEL not in template_labels(kube, namespace)
    assert get(kube, "ConfigMap", namespace, "extra") is None, "what the bad revision added"
    assert events_with(kube, namespace, "app", "RolledBack")[0]["type"] == "Warning"

    # Quarantined: the bad commit is not applied again while it is the source's head.
    status = reconciled_again(kube, namespace)
    assert NEVER_READY_LABEL not in template_labels(kube, namespace)
    assert [h["result"] for h in status["history"]].count("RolledBack") == 1

    fixed = repo.commit({"app/web.yaml": deployment("web", replicas=3)}, "fix")
    wait_for(lambda: synced_to(kube, namespace, fixed), timeout=60, what="the fix")
    status = get_status(kube, "Application", namespace, "app")
    assert condition(status, "RolledBack") == {}
    assert "failedRevision" not in status
    assert [h["result"] for h in status["history"][:3]] == ["Succeeded", "RolledBack", "Succeeded"]


def test_rollback_needs_no_git(kube, operator, repo, namespace):
    good = repo.commit({"app/web.yaml": deployment("web")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="6s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")
    repo.commit({"app/web.yaml": deployment("web", never_ready=True)}, "bad")
    wait_for(
        lambda: get_status(kube, "Application", namespace, "app").get("health") == "Progressing",
        timeout=30,
        what="the bad revision applied",
    )
    repo.bare.rename(repo.bare.with_suffix(".gone"))  # the Git server loses the repository
    status = wait_for(lambda: rolled_back(kube, namespace), timeout=60, what="RolledBack")
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert NEVER_READY_LABEL not in template_labels(kube, namespace)


def test_partly_applied_revision_is_rolled_back(kube, operator, repo, namespace):
    good = repo.commit({"app/cm.yaml": configmap("settings")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")
    extra_ns = f"{namespace}-new"
    bad_objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra_ns}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "Bad_Name", "namespace": extra_ns},
        },
    ]
    repo.commit({"app/bad.yaml": yaml.safe_dump_all(bad_objects)}, "namespace and a bad object")
    status = wait_for(lambda: rolled_back(kube, namespace), timeout=60, what="RolledBack")
    message = condition(status, "RolledBack")["message"]
    assert "only CRDs and Namespaces were applied" in message
    wait_for(
        lambda: (
            (get(kube, "Namespace", "", extra_ns) or {})
            .get("metadata", {})
            .get("deletionTimestamp")
            or get(kube, "Namespace", "", extra_ns) is None
        ),
        timeout=30,
        what="the new namespace pruned",
    )


def test_rollback_can_be_switched_off(kube, operator, repo, namespace):
    good = repo.commit({"app/web.yaml": deployment("web")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="5s", rollback={"enabled": False}))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")
    bad = repo.commit({"app/web.yaml": deployment("web", never_ready=True)}, "bad")

    def failed():
        status = get_status(kube, "Application", namespace, "app")
        return status if status.get("failedRevision") == f"main@sha1:{bad}" else None

    status = wait_for(failed, timeout=60, what="the bad revision quarantined")
    assert condition(status)["reason"] == "HealthCheckFailed"
    assert condition(status, "RolledBack") == {}
    assert NEVER_READY_LABEL in template_labels(kube, namespace), "left as applied"


def test_newer_commit_cancels_a_running_health_wait(kube, operator, repo, namespace):
    good = repo.commit({"app/web.yaml": deployment("web")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="5m"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")
    repo.commit({"app/web.yaml": deployment("web", never_ready=True)}, "stuck")
    wait_for(
        lambda: get_status(kube, "Application", namespace, "app").get("health") == "Progressing",
        timeout=30,
        what="the stuck revision waiting for health",
    )
    fixed = repo.commit({"app/web.yaml": deployment("web", replicas=2)}, "fix")
    wait_for(
        lambda: synced_to(kube, namespace, fixed),
        timeout=60,
        what="the fix applied while the stuck revision had 4 minutes of health wait left",
    )
    status = get_status(kube, "Application", namespace, "app")
    assert status["health"] == "Healthy" and condition(status, "RolledBack") == {}


def test_rollback_by_request_holds_the_head_until_a_new_commit(kube, operator, repo, namespace):
    first = repo.commit({"app/cm.yaml": configmap("settings", v="1")}, "one")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="first")
    second = repo.commit(
        {"app/cm.yaml": configmap("settings", v="2"), "app/new.yaml": configmap("new")}, "two"
    )
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="second")

    app = application(namespace)
    app["metadata"]["annotations"] = {
        "gitops-operator.dev/rollbackTo": first[:10],
        "gitops-operator.dev/rollbackAt": "2025-01-01T00:00:00.000000Z",
    }
    kube.apply(app)
    status = wait_for(lambda: rolled_back(kube, namespace), timeout=30, what="manual rollback")
    assert status["lastAppliedRevision"] == f"main@sha1:{first}"
    assert status["failedRevision"] == f"main@sha1:{second}"
    assert condition(status, "RolledBack")["reason"] == "ManualRollback"
    assert get(kube, "ConfigMap", namespace, "settings")["data"] == {"v": "1"}
    assert get(kube, "ConfigMap", namespace, "new") is None
    status = reconciled_again(kube, namespace)
    assert status["lastAppliedRevision"] == f"main@sha1:{first}", "held"
    assert get(kube, "ConfigMap", namespace, "settings")["data"] == {"v": "1"}, "held"

    third = repo.commit({"app/cm.yaml": configmap("settings", v="3")}, "three")
    wait_for(lambda: synced_to(kube, namespace, third), timeout=60, what="a new commit")
    assert condition(get_status(kube, "Application", namespace, "app"), "RolledBack") == {}
