"""PreDelete hooks on the real control plane: deleting an Application runs the PreDelete
Job of its last applied revision before its inventory is deleted; a PreDelete Job that
fails keeps the Application (its finalizer) and its objects, and says so."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from gitops_operator.api import API_VERSION, RETRY_ANNOTATION
from gitops_operator.objects import ObjectRef

from .apps import application, configmap, repository
from .support import condition, events_for, wait_for
from .test_hooks import ARGO_HOOK, HOOK, app_status, hook_items, job
from .test_reconcile import get, synced_to

APP = ObjectRef("gitops-operator.dev", "Application", "", "app")


def app_ref(namespace: str) -> ObjectRef:
    return ObjectRef(APP.group, APP.kind, namespace, APP.name)


def test_deleting_an_application_runs_its_pre_delete_job_before_deleting_its_objects(
    kube, operator, repo, namespace
):
    sha = repo.commit(
        {
            "app/settings.yaml": configmap("settings"),
            "app/backup.yaml": job("backup", {ARGO_HOOK: "PreDelete"}, image="backup:1"),
        },
        "settings, and a backup before they go",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    assert get(kube, "Job", namespace, "backup", "batch/v1") is None, "not run by a sync"

    kube.delete(API_VERSION, app_ref(namespace))
    gone_at = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if get(kube, "ConfigMap", namespace, "settings") is None:
            gone_at = datetime.now(UTC)
            break
        time.sleep(0.2)
    assert gone_at is not None, "the inventory was not deleted"
    backup = get(kube, "Job", namespace, "backup", "batch/v1")
    assert backup is not None, "the PreDelete Job ran (and, BeforeHookCreation only, stays)"
    completed = (backup.get("status") or {}).get("completionTime")
    assert completed, f"the Job completed before the inventory went: {backup.get('status')}"
    finished = datetime.fromisoformat(completed.replace("Z", "+00:00"))
    assert finished <= gone_at, (finished, gone_at)
    wait_for(
        lambda: kube.get(API_VERSION, app_ref(namespace)) is None,
        timeout=30,
        what="the Application gone",
    )


def test_a_failing_pre_delete_job_keeps_the_application_and_its_objects(
    kube, operator, repo, namespace
):
    sha = repo.commit(
        {
            "app/settings.yaml": configmap("settings"),
            "app/backup.yaml": job("backup", {HOOK: "PreDelete"}, fail=True),
        },
        "settings, and a backup that fails",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    kube.delete(API_VERSION, app_ref(namespace))

    def stopped():
        status = app_status(kube, namespace)
        ready = condition(status)
        return status if ready.get("reason") == "PreDeleteHookFailed" else None

    status = wait_for(stopped, timeout=90, what="the deletion stopped by the failed hook")
    assert hook_items(status) == [("PreDelete", "backup", "Failed")]
    assert "retryAt" in condition(status)["message"]
    time.sleep(4)
    assert kube.get(API_VERSION, app_ref(namespace)) is not None, "the finalizer stays"
    assert get(kube, "ConfigMap", namespace, "settings") is not None
    reasons = [e["reason"] for e in events_for(kube, namespace, "app")]
    assert "PreDeleteHookFailed" in reasons, reasons

    # retryAt runs it again (the same Job from the same revision: it fails again)
    first = get(kube, "Job", namespace, "backup", "batch/v1") or {}
    retry_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kube.patch(
        API_VERSION,
        app_ref(namespace),
        {"metadata": {"annotations": {RETRY_ANNOTATION: retry_at}}},
    )

    def rerun():
        job_ = get(kube, "Job", namespace, "backup", "batch/v1") or {}
        uid = (job_.get("metadata") or {}).get("uid")
        return job_ if uid and uid != first["metadata"]["uid"] else None

    wait_for(rerun, timeout=60, what="the PreDelete Job created again by retryAt")
    assert kube.get(API_VERSION, app_ref(namespace)) is not None
