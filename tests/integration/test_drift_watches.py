"""Drift in seconds: another manager's edit, scale or delete of a managed object wakes
the drift check at once, with a driftInterval (1h) that cannot be the cause."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef

from .apps import application, configmap, deployment, repository
from .support import condition, events_for, get_status, wait_for
from .test_reconcile import get, synced_to
from .test_tenancy import operator_with

DEPLOYMENT = ObjectRef("apps", "Deployment", "", "web")


def editor(cluster) -> KubeClient:
    """Someone else: writes under a field manager of its own, as ``kubectl edit`` does."""
    return KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="kubectl-edit")


def scale(cluster, namespace: str, replicas: int) -> None:
    ref = ObjectRef("apps", "Deployment", namespace, "web")
    editor(cluster).patch("apps/v1", ref, {"spec": {"replicas": replicas}})


def samples(operator, name: str) -> list:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    return families.get(name, [])


def wakeups(operator, namespace: str) -> float:
    return sum(
        s.value
        for s in samples(operator, "gitops_drift_wakeups")
        if s.name.endswith("_total") and s.labels.get("namespace") == namespace
    )


def synced_app(kube, repo, namespace, **spec) -> None:
    sha = repo.commit(
        {"app/web.yaml": deployment("web", replicas=1), "app/cm.yaml": configmap("settings")}
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="1h", **spec))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="synced")


def test_an_edit_is_drift_in_seconds_without_waiting_for_drift_interval(
    kube, operator, repo, namespace, cluster
):
    synced_app(kube, repo, namespace)
    assert condition(get_status(kube, "Application", namespace, "app"), "Drifted").get(
        "status"
    ) in (None, "False")
    scale(cluster, namespace, 3)
    status = wait_for(
        lambda: (
            (s := get_status(kube, "Application", namespace, "app"))
            and condition(s, "Drifted").get("status") == "True"
            and s
        ),
        timeout=30,
        what="Drifted with driftInterval 1h",
    )
    [entry] = status["drift"]
    assert entry["object"] == f"Deployment/{namespace}/web"
    assert entry["fields"][0]["path"] == "spec.replicas"
    assert get(kube, "Deployment", namespace, "web", "apps/v1")["spec"]["replicas"] == 3, (
        "without selfHeal drift is reported, not corrected"
    )
    assert wakeups(operator, namespace) >= 1


def test_self_heal_corrects_an_edit_and_a_delete_in_seconds(
    kube, operator, repo, namespace, cluster
):
    synced_app(kube, repo, namespace, selfHeal=True)
    scale(cluster, namespace, 4)
    wait_for(
        lambda: get(kube, "Deployment", namespace, "web", "apps/v1")["spec"]["replicas"] == 1,
        timeout=30,
        what="replicas set back by selfHeal",
    )
    kube.delete("v1", ObjectRef("", "ConfigMap", namespace, "settings"))
    wait_for(
        lambda: get(kube, "ConfigMap", namespace, "settings") is not None,
        timeout=30,
        what="the deleted ConfigMap recreated by selfHeal",
    )
    corrected = [e for e in events_for(kube, namespace, "app") if e["reason"] == "DriftCorrected"]
    assert corrected


def test_the_operators_own_applies_wake_nothing(kube, operator, repo, namespace, cluster):
    synced_app(kube, repo, namespace, selfHeal=True)
    time.sleep(3)  # the sync's own writes and the controllers' status writes settle
    before = wakeups(operator, namespace)
    assert before == 0, f"the operator's own applies and status writes woke {before} check(s)"
    scale(cluster, namespace, 2)
    wait_for(
        lambda: get(kube, "Deployment", namespace, "web", "apps/v1")["spec"]["replicas"] == 1,
        timeout=30,
        what="replicas set back by selfHeal",
    )
    woken = wait_for(lambda: wakeups(operator, namespace), timeout=10, what="a wake-up counted")
    time.sleep(10)  # quiet: the correction (an apply of ours) must not wake it again
    assert (after := wakeups(operator, namespace)) == woken, f"a wake-up loop: {woken} -> {after}"
    corrected = [e for e in events_for(kube, namespace, "app") if e["reason"] == "DriftCorrected"]
    assert sum(int(e.get("count") or 1) for e in corrected) == 1, [e["message"] for e in corrected]


def test_turned_off_drift_waits_for_drift_interval(kube, operator, repo, namespace, cluster):
    with operator_with(operator, GITOPS_DRIFT_WATCHES="false") as custom:
        custom.wait_live()
        synced_app(kube, repo, namespace)
        scale(cluster, namespace, 3)
        time.sleep(10)  # with the watches on, this is Drifted in about a second
        status = get_status(kube, "Application", namespace, "app")
        assert condition(status, "Drifted").get("status") != "True"
        assert not samples(custom, "gitops_drift_watches")[0].value
