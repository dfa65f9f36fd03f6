"""Drift is reported with its fields, corrected with selfHeal, and other managers'
fields are not drift."""

from __future__ import annotations

from gitops_operator.kube import KubeClient, load_api_client

from .apps import application, configmap, repository
from .support import condition, events_for, get_status, wait_for
from .test_reconcile import get, synced_to


def drifted(kube, namespace):
    status = get_status(kube, "Application", namespace, "app")
    return status if condition(status, "Drifted").get("status") == "True" else None


def test_drift_is_reported_and_other_managers_fields_are_not_drift(
    kube, operator, repo, namespace, cluster
):
    sha = repo.commit({"app/cm.yaml": configmap("settings", color="blue")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="1s"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    other = KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="someone")
    other.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "settings",
                "namespace": namespace,
                "labels": {"team": "payments"},
            },
        }
    )
    wait_for(
        lambda: (
            condition(get_status(kube, "Application", namespace, "app"), "Drifted").get("status")
            == "False"
        ),
        timeout=30,
        what="a drift check with no drift",
    )
    other.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"color": "red"},
        }
    )
    status = wait_for(lambda: drifted(kube, namespace), timeout=30, what="Drifted")
    [entry] = status["drift"]
    assert entry["object"] == f"ConfigMap/{namespace}/settings"
    assert entry["fields"] == [{"path": "data.color", "desired": '"blue"', "live": '"red"'}]
    assert any(e["reason"] == "DriftDetected" for e in events_for(kube, namespace, "app"))
    assert get(kube, "ConfigMap", namespace, "settings")["data"] == {"color": "red"}, (
        "without selfHeal drift is reported, not corrected"
    )


def test_self_heal_corrects_drift_and_recreates_deleted_objects(
    kube, operator, repo, namespace, cluster
):
    sha = repo.commit(
        {"app/cm.yaml": configmap("settings", color="blue"), "app/other.yaml": configmap("other")}
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="1s", selfHeal=True))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    other = KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="someone")
    other.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"color": "red"},
        }
    )
    from gitops_operator.objects import ObjectRef

    kube.delete("v1", ObjectRef("", "ConfigMap", namespace, "other"))
    wait_for(
        lambda: (
            (get(kube, "ConfigMap", namespace, "settings") or {}).get("data") == {"color": "blue"}
            and get(kube, "ConfigMap", namespace, "other") is not None
        ),
        timeout=30,
        what="drift corrected",
    )
    assert any(e["reason"] == "DriftCorrected" for e in events_for(kube, namespace, "app"))
