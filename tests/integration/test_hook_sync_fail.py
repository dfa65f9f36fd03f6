"""SyncFail hooks on the real control plane: a revision that fails (a PostSync smoke test
rolled back, a PreSync migration quarantined) runs its SyncFail Job, a notification, to
completion; the failure stays what it was; a SyncFail hook that fails is reported once."""

from __future__ import annotations

import time

from .apps import application, configmap, repository
from .support import condition, events_for, wait_for
from .test_hooks import ARGO_HOOK, HOOK, app_status, hook_items, job
from .test_reconcile import get, synced_to


def sync_fail_done(kube, namespace, revision):
    def check():
        status = app_status(kube, namespace)
        if status.get("failedRevision") != revision:
            return None
        phases = [p for h, _, p in hook_items(status) if h == "SyncFail"]
        return status if phases and all(p in ("Succeeded", "Failed") for p in phases) else None

    return check


def test_a_failed_post_sync_rolls_back_then_runs_the_sync_fail_notification(
    kube, operator, repo, namespace
):
    good = repo.commit({"app/settings.yaml": configmap("settings", mode="old")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="the good revision")

    bad = repo.commit(
        {
            "app/settings.yaml": configmap("settings", mode="new"),
            "app/smoke.yaml": job("smoke", {HOOK: "PostSync"}, fail=True),
            "app/notify.yaml": job("notify", {ARGO_HOOK: "SyncFail"}, image="notify:1"),
        },
        "new settings, a smoke test that fails, and a notification when it does",
    )
    revision = f"main@sha1:{bad}"
    status = wait_for(
        sync_fail_done(kube, namespace, revision), timeout=120, what="the SyncFail hook"
    )
    assert hook_items(status) == [
        ("PostSync", "smoke", "Failed"),
        ("SyncFail", "notify", "Succeeded"),
    ]
    # the outcome of the failure is unchanged: rolled back, held
    assert condition(status, "RolledBack").get("status") == "True"
    assert condition(status)["reason"] == "HookFailed"
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert (get(kube, "ConfigMap", namespace, "settings") or {}).get("data") == {"mode": "old"}
    notify = get(kube, "Job", namespace, "notify", "batch/v1")
    assert notify is not None, "BeforeHookCreation only: kept"
    # created after the rollback's restore
    rolled_back = status["history"][0]
    assert rolled_back["result"] == "RolledBack" and rolled_back["revision"] == revision
    assert notify["metadata"]["creationTimestamp"] >= rolled_back["finishedAt"][:19]
    assert "SyncFail Job/notify Succeeded" in rolled_back["message"]
    assert not any("notify" in str(e) for e in (status.get("inventory") or {}).get("entries", []))

    def reported():
        events = events_for(kube, namespace, "app")
        return [e for e in events if "SyncFail hook" in (e.get("message") or "")] or None

    messages = [e["message"] for e in wait_for(reported, timeout=30, what="the Events")]
    assert any("started" in m for m in messages) and any("succeeded" in m for m in messages)


def test_a_failed_pre_sync_runs_sync_fail_and_a_failing_sync_fail_is_reported_once(
    kube, operator, repo, namespace
):
    good = repo.commit({"app/base.yaml": configmap("base")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="the good revision")

    bad = repo.commit(
        {
            "app/migrate.yaml": job("migrate", {HOOK: "PreSync"}, fail=True),
            "app/new.yaml": configmap("new"),
            "app/notify.yaml": job("notify", {HOOK: "SyncFail"}, image="notify:1"),
            "app/page.yaml": job("page", {HOOK: "SyncFail"}, fail=True),
        },
        "a migration that fails, a notification and a pager that fails too",
    )
    revision = f"main@sha1:{bad}"
    status = wait_for(
        sync_fail_done(kube, namespace, revision), timeout=120, what="the SyncFail hooks"
    )
    assert hook_items(status) == [
        ("PreSync", "migrate", "Failed"),
        ("SyncFail", "notify", "Succeeded"),
        ("SyncFail", "page", "Failed"),
    ]
    ready = condition(status)
    assert ready["reason"] == "HookFailed" and "PreSync hook" in ready["message"]
    assert condition(status, "RolledBack").get("status") != "True"
    assert get(kube, "ConfigMap", namespace, "new") is None, "nothing of the revision applied"
    page = get(kube, "Job", namespace, "page", "batch/v1")
    assert page is not None
    # reported, and never run again
    entry = status["history"][0]
    assert "SyncFail Job/notify Succeeded, SyncFail Job/page Failed" in entry["message"]
    time.sleep(6)  # three passes of the quarantined revision
    again = app_status(kube, namespace)
    assert hook_items(again) == hook_items(status)
    assert (
        get(kube, "Job", namespace, "page", "batch/v1")["metadata"]["uid"]
        == (page["metadata"]["uid"])
    )
