"""Drift is reported with its fields, corrected with selfHeal, and other managers'
fields are not drift."""

from __future__ import annotations

from gitops_operator.kube import KubeClient, load_api_client

from .apps import application, configmap, repository
from .support import condition, events_for, events_with, get_status, wait_for
from .test_reconcile import get, synced_to


def drifted(kube, namespace):
    status = get_status(kube, "Application", namespace, "app")
    return status if condition(status, "Drifted").get("status") == "True" else None


def drift_condition(kube, namespace):
    return condition(get_status(kube, "Application", namespace, "app"), "Drifted")


def test_drift_is_reported_and_other_managers_fields_are_not_drift(
    kube, operator, repo, namespace, cluster
):
    sha = repo.commit({"app/cm.yaml": configmap("settings", color="blue")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="1s"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    other = KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="someone")

    def edit(color: str) -> None:
        other.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "settings",
                    "namespace": namespace,
                    "labels": {"team": "payments"},
                },
                "data": {"color": color},
            }
        )

    edit("red")  # a field of ours changed, and a label of their own added
    status = wait_for(lambda: drifted(kube, namespace), timeout=30, what="Drifted")
    [entry] = status["drift"]
    assert entry["object"] == f"ConfigMap/{namespace}/settings"
    assert entry["fields"] == [{"path": "data.color", "desired": '"blue"', "live": '"red"'}], (
        "the other manager's label is not drift"
    )
    assert events_with(kube, namespace, "app", "DriftDetected")
    assert get(kube, "ConfigMap", namespace, "settings")["data"] == {"color": "red"}, (
        "without selfHeal drift is reported, not corrected"
    )

    edit("blue")  # our field matches again; their label stays
    resolved = wait_for(
        lambda: (c := drift_condition(kube, namespace)).get("status") == "False" and c,
        timeout=30,
        what="Drifted turning False with the other manager's label still there",
    )
    assert resolved["reason"] == "NoDrift"
    assert get(kube, "ConfigMap", namespace, "settings")["metadata"]["labels"] == {
        "team": "payments"
    }
    assert get_status(kube, "Application", namespace, "app").get("drift") is None


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
    wait_for(
        lambda: any(e["reason"] == "DriftCorrected" for e in events_for(kube, namespace, "app")),
        timeout=30,
        what="the DriftCorrected Event",
    )
