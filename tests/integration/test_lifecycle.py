"""Deletion policy and what survives an operator restart."""

from __future__ import annotations

import time

from gitops_operator.api import API_VERSION
from gitops_operator.objects import ObjectRef
from localcluster import NEVER_READY_LABEL

from .apps import application, configmap, deployment, repository
from .support import condition, get_status, wait_for
from .test_reconcile import get, synced_to


def _delete_app(kube, namespace):
    kube.delete(API_VERSION, ObjectRef("gitops-operator.dev", "Application", namespace, "app"))
    wait_for(
        lambda: (
            kube.get(API_VERSION, ObjectRef("gitops-operator.dev", "Application", namespace, "app"))
            is None
        ),
        timeout=30,
        what="the Application gone (finalizer done)",
    )


def test_deletion_policy_delete_prunes_and_orphan_leaves(kube, operator, repo, namespace):
    sha = repo.commit({"app/a.yaml": configmap("a")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    _delete_app(kube, namespace)
    assert get(kube, "ConfigMap", namespace, "a") is None

    kube.apply(application(namespace, deletionPolicy="Orphan"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced again")
    _delete_app(kube, namespace)
    assert get(kube, "ConfigMap", namespace, "a") is not None


def test_status_survives_an_operator_restart(kube, operator, repo, namespace):
    good = repo.commit({"app/web.yaml": deployment("web")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="5s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good")
    bad = repo.commit(
        {"app/web.yaml": deployment("web", never_ready=True), "app/cm.yaml": configmap("c")}, "bad"
    )
    wait_for(
        lambda: (
            get_status(kube, "Application", namespace, "app").get("failedRevision")
            == f"main@sha1:{bad}"
        ),
        timeout=60,
        what="rolled back",
    )
    before = get_status(kube, "Application", namespace, "app")

    operator.stop()
    operator.start()
    time.sleep(8)  # the restarted operator reconciles; the quarantine must hold
    assert get_status(kube, "Application", namespace, "app")["history"] == before["history"]
    live = get(kube, "Deployment", namespace, "web", "apps/v1")
    assert NEVER_READY_LABEL not in live["spec"]["template"]["metadata"]["labels"]
    fixed = repo.commit({"app/web.yaml": deployment("web", replicas=2)}, "fixed")
    wait_for(lambda: synced_to(kube, namespace, fixed), timeout=90, what="synced after restart")
    after = get_status(kube, "Application", namespace, "app")
    assert after["history"][1:] == before["history"][: len(after["history"]) - 1]
    assert [h["result"] for h in after["history"][:3]] == ["Succeeded", "RolledBack", "Succeeded"]
    assert condition(after)["status"] == "True"
