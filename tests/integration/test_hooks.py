"""PreSync and PostSync hooks on the real control plane: real Jobs, completed or failed by
kwok's pod stages (``FAIL_LABEL``) and marked Complete or Failed by the real Job
controller. A failed PreSync stops the revision before anything of it is written; a
failed PostSync rolls back; hooks stay out of the inventory; BeforeHookCreation lets the
next revision's Job of the same name run; an Argo CD repository with waves and hooks
syncs."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gitops_operator.kube import KubeClient, load_api_client
from localcluster import FAIL_LABEL

from .apps import application, configmap, deployment, repository
from .support import condition, events_for, get_status, wait_for
from .test_reconcile import get, synced_to
from .test_waves import ARGO_WAVE, config, created, slow_deployment, stamp

ARGO_HOOK = "argocd.argoproj.io/hook"
HOOK = "gitops-operator.dev/hook"


def job(
    name: str,
    annotations: dict[str, str],
    *,
    fail: bool = False,
    image: str = "migrate:1",
    suspend: bool = False,
):
    """A Job of one pod that kwok completes (exit 0) or, with ``fail``, fails (exit 1);
    ``suspend``: none until someone resumes it."""
    labels = {FAIL_LABEL: "true"} if fail else {}
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "suspend": suspend,
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": image}],
                    },
                },
            },
        }
    )


@pytest.fixture
def editor(cluster) -> KubeClient:
    """Someone else changing live objects, as `kubectl edit` would."""
    return KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="kubectl-edit")


def app_status(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return get_status(kube, "Application", namespace, "app")


def hook_items(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (i["hook"], i["name"], i["phase"]) for i in (status.get("hooks") or {}).get("items", [])
    ]


def inventoried(status: dict[str, Any]) -> list[str]:
    return [e["id"] for e in (status.get("inventory") or {}).get("entries", [])]


def image_of(kube: KubeClient, namespace: str, name: str) -> str:
    obj = get(kube, "Deployment", namespace, name, "apps/v1") or {}
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def test_failed_pre_sync_migration_stops_the_revision_with_nothing_applied(
    kube, operator, repo, namespace
):
    good = repo.commit(
        {"app/web.yaml": deployment("web", image="web:1"), "app/base.yaml": configmap("base")},
        "web 1",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="the good revision")

    bad = repo.commit(
        {
            "app/migrate.yaml": job("migrate", {HOOK: "PreSync"}, fail=True),
            "app/web.yaml": deployment("web", image="web:2"),
            "app/new.yaml": configmap("new"),
        },
        "web 2, after a migration that fails",
    )

    def stalled():
        status = app_status(kube, namespace)
        return status if status.get("failedRevision") == f"main@sha1:{bad}" else None

    status = wait_for(stalled, timeout=90, what="the failed PreSync hook to fail the revision")
    ready = condition(status)
    assert ready["status"] == "False" and ready["reason"] == "HookFailed", ready
    assert f"PreSync hook Job/{namespace}/migrate of revision main@sha1:{bad}" in (ready["message"])
    assert "nothing to roll back" in ready["message"]
    assert condition(status, "RolledBack").get("status") != "True"
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert hook_items(status) == [("PreSync", "migrate", "Failed")]
    assert status["history"][0]["result"] == "Failed"
    # nothing of the revision was written
    assert image_of(kube, namespace, "web") == "web:1"
    assert get(kube, "ConfigMap", namespace, "new") is None
    assert not any("migrate" in i for i in inventoried(status)), "a hook is not inventoried"
    migrate = get(kube, "Job", namespace, "migrate", "batch/v1")
    assert migrate is not None, "kept for its logs (no HookFailed delete policy)"
    reasons = [e["reason"] for e in events_for(kube, namespace, "app")]
    assert "HookStarted" in reasons and "HookFailed" in reasons, reasons


def test_pre_sync_runs_first_is_not_inventoried_and_reruns_under_its_name_next_revision(
    kube, operator, repo, namespace
):
    first = repo.commit(
        {
            "app/migrate.yaml": job("migrate", {ARGO_HOOK: "PreSync"}, image="migrate:1"),
            "app/web.yaml": deployment("web", image="web:1"),
        },
        "migrate, then web",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=90, what="the first revision")

    status = app_status(kube, namespace)
    migrate = get(kube, "Job", namespace, "migrate", "batch/v1")
    assert migrate is not None
    done = stamp(migrate["status"]["completionTime"])
    assert created(kube, "Deployment", namespace, "web", "apps/v1") >= done
    assert hook_items(status) == [("PreSync", "migrate", "Succeeded")]
    assert inventoried(status) == [f"{namespace}_web_apps_Deployment"]
    assert status["history"][0]["message"] == "hooks: PreSync Job/migrate Succeeded"

    # the Job's template is immutable: applied over, migrate:2 would be refused
    second = repo.commit(
        {
            "app/migrate.yaml": job("migrate", {ARGO_HOOK: "PreSync"}, image="migrate:2"),
            "app/web.yaml": deployment("web", image="web:2"),
        },
        "migrate again, then web 2",
    )
    wait_for(lambda: synced_to(kube, namespace, second), timeout=90, what="the second revision")
    again = get(kube, "Job", namespace, "migrate", "batch/v1")
    assert again is not None
    assert again["metadata"]["uid"] != migrate["metadata"]["uid"], "BeforeHookCreation"
    assert again["spec"]["template"]["spec"]["containers"][0]["image"] == "migrate:2"
    assert image_of(kube, namespace, "web") == "web:2"

    # a hook that leaves the repository is not pruned: it was never the sync's to own
    third = repo.commit({"app/migrate.yaml": None}, "no more migrations")
    wait_for(lambda: synced_to(kube, namespace, third), timeout=60, what="the third revision")
    assert get(kube, "Job", namespace, "migrate", "batch/v1") is not None
    assert "hooks" not in app_status(kube, namespace)


@pytest.mark.parametrize(
    ("phase", "annotations"),
    [
        (
            "PostSync",
            {
                "helm.sh/hook": "post-install,post-upgrade",
                "helm.sh/hook-delete-policy": "hook-failed",
            },
        ),
        ("Sync", {ARGO_HOOK: "Sync", "argocd.argoproj.io/hook-delete-policy": "HookFailed"}),
    ],
)
def test_failed_post_sync_or_sync_hook_rolls_back_to_the_last_good_revision(
    kube, operator, repo, namespace, phase, annotations
):
    good = repo.commit({"app/settings.yaml": configmap("settings", mode="old")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="the good revision")

    bad = repo.commit(
        {
            "app/settings.yaml": configmap("settings", mode="new"),
            "app/smoke.yaml": job("smoke", annotations, fail=True),
        },
        "new settings, and a smoke test that fails",
    )

    def rolled_back():
        status = app_status(kube, namespace)
        return status if condition(status, "RolledBack").get("status") == "True" else None

    status = wait_for(rolled_back, timeout=90, what="the rollback")
    assert status["failedRevision"] == f"main@sha1:{bad}"
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    message = condition(status, "RolledBack")["message"]
    assert f"{phase} hook Job/{namespace}/smoke of revision main@sha1:{bad} failed" in message
    settings = get(kube, "ConfigMap", namespace, "settings") or {}
    assert settings.get("data") == {"mode": "old"}, "the last good revision is back"
    assert hook_items(status) == [(phase, "smoke", "Failed")]
    assert "deleted by its delete policy" in status["hooks"]["items"][0]["message"]
    wait_for(
        lambda: get(kube, "Job", namespace, "smoke", "batch/v1") is None,
        timeout=30,
        what="the failed smoke test deleted (hook-failed)",
    )


def test_pre_sync_hook_of_any_kind_that_never_becomes_healthy_times_out(
    kube, operator, repo, namespace
):
    kube.apply(repository(namespace, repo.url))
    sha = repo.commit(
        {
            "app/warmup.yaml": slow_deployment("warmup", {HOOK: "PreSync"}, never_ready=True),
            "app/web.yaml": deployment("web"),
        },
        "a PreSync Deployment that never becomes available",
    )
    kube.apply(application(namespace, healthTimeout="6s"))

    def stalled():
        status = app_status(kube, namespace)
        return status if status.get("failedRevision") == f"main@sha1:{sha}" else None

    status = wait_for(stalled, timeout=60, what="the PreSync hook to time out")
    ready = condition(status)
    assert ready["reason"] == "HookFailed"
    assert "did not complete within 6s" in ready["message"], ready["message"]
    assert get(kube, "Deployment", namespace, "web", "apps/v1") is None, "nothing applied"
    assert "lastAppliedRevision" not in status
    assert hook_items(status) == [("PreSync", "warmup", "Failed")]


def test_argo_annotated_repository_with_waves_and_hooks_syncs(kube, operator, repo, namespace):
    sha = repo.commit(
        {
            "app/migrate.yaml": job(
                "migrate",
                {ARGO_HOOK: "PreSync", "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"},
            ),
            "app/db.yaml": slow_deployment("db", {ARGO_WAVE: "-1"}, ready_after=1),
            "app/web.yaml": slow_deployment("web", {ARGO_WAVE: "1"}, ready_after=1),
            "app/seed.yaml": job("seed", {ARGO_HOOK: "Sync"}),
            "app/smoke.yaml": config("smoke-passed", {ARGO_HOOK: "PostSync"}),
            "app/chart-test.yaml": config("chart-test", {"helm.sh/hook": "test"}),
        },
        "waves and hooks",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=120, what="waves and hooks")

    status = app_status(kube, namespace)
    assert hook_items(status) == [
        ("PreSync", "migrate", "Succeeded"),
        ("Sync", "seed", "Succeeded"),
        ("PostSync", "smoke-passed", "Succeeded"),
    ]
    items = status["hooks"]["items"]
    assert "deleted by its delete policy" in items[0]["message"]
    wait_for(
        lambda: get(kube, "Job", namespace, "migrate", "batch/v1") is None,
        timeout=30,
        what="the PreSync Job deleted (HookSucceeded)",
    )
    assert stamp(items[0]["finishedAt"]) <= created(kube, "Deployment", namespace, "db", "apps/v1")
    assert created(kube, "ConfigMap", namespace, "smoke-passed") >= created(
        kube, "Deployment", namespace, "web", "apps/v1"
    )
    assert get(kube, "ConfigMap", namespace, "chart-test") is None, "test hooks are skipped"
    assert sorted(inventoried(status)) == sorted(
        [f"{namespace}_db_apps_Deployment", f"{namespace}_web_apps_Deployment"]
    )
    reasons = [e["reason"] for e in events_for(kube, namespace, "app")]
    assert reasons.count("HookStarted") == 3 and reasons.count("HookSucceeded") == 3, reasons
    seed = get(kube, "Job", namespace, "seed", "batch/v1")
    assert seed is not None
    assert stamp(seed["metadata"]["creationTimestamp"]) >= stamp(items[0]["finishedAt"])
    assert stamp(seed["metadata"]["creationTimestamp"]) <= created(
        kube, "Deployment", namespace, "web", "apps/v1"
    ), "Sync hooks are created with the first wave"
    assert created(kube, "ConfigMap", namespace, "smoke-passed") >= stamp(
        seed["status"]["completionTime"]
    )


def test_a_first_revision_healthy_late_is_released_once_its_post_sync_hook_passes(
    kube, editor, operator, repo, namespace
):
    """Nothing to roll back to, so a first revision that failed its health check stays
    applied; when its rollout finishes after all, its PostSync hook runs then, and the
    revision is good once the hook has passed."""
    label = f"gitops-test/late-{namespace}"
    web = yaml.safe_load(deployment("web"))
    web["spec"]["progressDeadlineSeconds"] = 2
    web["spec"]["template"]["spec"]["nodeSelector"] = {label: "yes"}
    sha = repo.commit(
        {"app/web.yaml": yaml.safe_dump(web), "app/smoke.yaml": job("smoke", {HOOK: "PostSync"})},
        "pods with no node yet, and a smoke test",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="30s", driftInterval="2s"))

    def stalled():
        cond = condition(app_status(kube, namespace), "Stalled")
        return cond if cond.get("reason") == "HealthCheckFailed" else None

    wait_for(stalled, timeout=60, what="the first revision to fail its health check")
    assert hook_items(app_status(kube, namespace)) == [("PostSync", "smoke", "Pending")]
    assert get(kube, "Job", namespace, "smoke", "batch/v1") is None

    (node, *_) = kube.list("v1", "Node")
    labelled = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node["metadata"]["name"]}}
    editor.apply({**labelled, "metadata": {**labelled["metadata"], "labels": {label: "yes"}}})
    try:
        wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="Ready after all")
    finally:
        editor.apply(labelled)
    status = app_status(kube, namespace)
    assert hook_items(status) == [("PostSync", "smoke", "Succeeded")]
    assert status["lastGoodRevision"] == f"main@sha1:{sha}"
    assert "failedRevision" not in status
    assert status["history"][0]["message"] == "hooks: PostSync Job/smoke Succeeded"


def test_a_restarted_operator_resumes_waiting_for_the_pre_sync_hook_it_started(
    kube, editor, operator, repo, namespace
):
    sha = repo.commit(
        {
            "app/migrate.yaml": job("migrate", {HOOK: "PreSync"}, suspend=True),
            "app/web.yaml": deployment("web"),
        },
        "a migration held until someone resumes it",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="120s"))

    def running():
        status = app_status(kube, namespace)
        return status if hook_items(status) == [("PreSync", "migrate", "Running")] else None

    status = wait_for(running, timeout=60, what="the PreSync hook running")
    assert "waiting for the PreSync hooks" in condition(status)["message"]
    started = status["hooks"]["items"][0]
    assert get(kube, "Deployment", namespace, "web", "apps/v1") is None, "nothing applied yet"

    operator.stop()
    operator.start()
    editor.apply(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "migrate", "namespace": namespace},
            "spec": {"suspend": False},
        }
    )
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="the sync to go on")
    migrate = get(kube, "Job", namespace, "migrate", "batch/v1")
    assert migrate is not None
    assert migrate["metadata"]["uid"] == started["uid"], "the same Job, not created again"
    (item,) = app_status(kube, namespace)["hooks"]["items"]
    assert item["phase"] == "Succeeded" and item["startedAt"] == started["startedAt"]
    assert created(kube, "Deployment", namespace, "web", "apps/v1") >= stamp(
        migrate["status"]["completionTime"]
    )
