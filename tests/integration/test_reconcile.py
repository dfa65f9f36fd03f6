"""Plan, staged apply, prune and ignoreDifferences on the real control plane."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gitops_operator.api import API_VERSION
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef

from .apps import application, configmap, crd, deployment, repository
from .support import GitRepo, condition, events_with, get_status, wait_for


def synced_to(kube: KubeClient, namespace: str, sha: str, name: str = "app") -> bool:
    status = get_status(kube, "Application", namespace, name)
    return (
        status.get("lastAppliedRevision") == f"main@sha1:{sha}"
        and condition(status).get("status") == "True"
    )


def failed_with(kube: KubeClient, namespace: str, reason: str, name: str = "app"):
    cond = condition(get_status(kube, "Application", namespace, name))
    return cond if cond.get("status") == "False" and cond.get("reason") == reason else None


def start(
    kube: KubeClient, repo: GitRepo, namespace: str, files: dict[str, str | None], **spec: Any
) -> str:
    sha = repo.commit(files, "first")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, **spec))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="first revision synced")
    return sha


def get(kube: KubeClient, kind: str, namespace: str, name: str, version: str = "v1"):
    group = version.rpartition("/")[0]
    return kube.get(version, ObjectRef(group, kind, namespace, name))


@pytest.mark.parametrize(
    ("bad_file", "expected"),
    [
        (deployment("web").replace("replicas: 1", "replicas: many"), "replicas"),
        (deployment("web", app="changed-selector"), "field is immutable"),
    ],
    ids=["schema-violation", "immutable-field"],
)
def test_refused_revision_writes_nothing_and_is_quarantined(
    kube, operator, repo, namespace, bad_file, expected
):
    start(
        kube,
        repo,
        namespace,
        {"app/web.yaml": deployment("web"), "app/cm.yaml": configmap("settings", color="blue")},
    )
    bad = repo.commit(
        {"app/web.yaml": bad_file, "app/cm.yaml": configmap("settings", color="green")}, "bad"
    )
    cond = wait_for(
        lambda: failed_with(kube, namespace, "DryRunFailed"), timeout=30, what="DryRunFailed"
    )
    assert expected in cond["message"] and "nothing applied" in cond["message"]
    assert get(kube, "ConfigMap", namespace, "settings")["data"] == {"color": "blue"}
    status = get_status(kube, "Application", namespace, "app")
    assert status["failedRevision"] == f"main@sha1:{bad}"
    assert status["history"][0]["result"] == "Failed"
    assert condition(status, "Stalled")["status"] == "True"
    events = events_with(kube, namespace, "app", "DryRunFailed")
    assert events[0]["type"] == "Warning"


def test_crd_and_namespace_are_applied_before_what_needs_them(kube, operator, repo, namespace):
    definition = crd(f"{namespace}.example.com", "Widget", "widgets")
    widget = {
        "apiVersion": f"{namespace}.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": f"{namespace}-extra"},
        "spec": {"size": 3},
    }
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{namespace}-extra"}}
    start(kube, repo, namespace, {"app/all.yaml": yaml.safe_dump_all([widget, definition, ns])})
    live = kube.get(
        f"{namespace}.example.com/v1",
        ObjectRef(f"{namespace}.example.com", "Widget", f"{namespace}-extra", "w"),
    )
    assert live is not None and live["spec"]["size"] == 3
    history = get_status(kube, "Application", namespace, "app")["history"]
    assert history[0]["changes"] == {"created": 3}


def test_unchanged_objects_are_not_written(kube, operator, repo, namespace):
    start(
        kube,
        repo,
        namespace,
        {"app/a.yaml": configmap("a", v="1"), "app/b.yaml": configmap("b", v="1")},
    )
    before = {
        n: get(kube, "ConfigMap", namespace, n)["metadata"]["resourceVersion"] for n in ("a", "b")
    }
    sha = repo.commit({"app/b.yaml": configmap("b", v="2")}, "change b only")
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=30, what="second revision")
    after = {
        n: get(kube, "ConfigMap", namespace, n)["metadata"]["resourceVersion"] for n in ("a", "b")
    }
    assert after["a"] == before["a"]
    assert after["b"] != before["b"]
    assert get_status(kube, "Application", namespace, "app")["history"][0]["changes"] == {
        "configured": 1,
        "unchanged": 1,
    }


def test_prune_respects_opt_out_disable_and_limits(kube, operator, repo, namespace):
    keep = configmap("keep", v="1").replace(
        "metadata:\n", "metadata:\n  annotations: {gitops-operator.dev/prune: disabled}\n"
    )
    start(
        kube,
        repo,
        namespace,
        {
            "app/keep.yaml": keep,
            "app/a.yaml": configmap("a"),
            "app/b.yaml": configmap("b"),
            "app/c.yaml": configmap("c"),
        },
        maxDeletions=2,
    )
    # Three deletions exceed maxDeletions=2: refused before anything is written.
    sha = repo.commit(
        {"app/a.yaml": None, "app/b.yaml": None, "app/c.yaml": None, "app/d.yaml": configmap("d")},
        "drop three",
    )
    cond = wait_for(
        lambda: failed_with(kube, namespace, "TooManyDeletions"),
        timeout=30,
        what="TooManyDeletions",
    )
    assert "would delete 3 objects" in cond["message"]
    assert get(kube, "ConfigMap", namespace, "a") is not None
    assert get(kube, "ConfigMap", namespace, "d") is None
    # Raise the limit (a spec change lets the quarantined revision be tried again).
    kube.apply(application(namespace, maxDeletions=5))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=30, what="the pruning revision")
    assert [get(kube, "ConfigMap", namespace, n) is None for n in "abc"] == [True] * 3
    # The opt-out object survives its manifest's removal and leaves the inventory.
    sha = repo.commit({"app/keep.yaml": None}, "drop keep")
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=30, what="keep dropped")
    assert get(kube, "ConfigMap", namespace, "keep") is not None
    ids = {
        e["id"] for e in get_status(kube, "Application", namespace, "app")["inventory"]["entries"]
    }
    assert ids == {f"{namespace}_d__ConfigMap"}


def test_prune_false_and_empty_render_delete_nothing(kube, operator, repo, namespace):
    start(kube, repo, namespace, {"app/a.yaml": configmap("a"), "app/b.yaml": configmap("b")})
    repo.commit({"app/a.yaml": None, "app/b.yaml": None, "app/README.md": "empty"}, "empty")
    cond = wait_for(
        lambda: failed_with(kube, namespace, "EmptyRender"), timeout=30, what="EmptyRender"
    )
    assert "refusing to prune the 2 objects" in cond["message"]
    assert get(kube, "ConfigMap", namespace, "a") is not None
    sha = repo.commit({"app/c.yaml": configmap("c")}, "only c")
    kube.apply(application(namespace, prune=False))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=30, what="prune: false sync")
    assert all(get(kube, "ConfigMap", namespace, n) is not None for n in "abc")


def test_ignore_differences_leave_other_writers_fields_alone(
    kube, operator, repo, namespace, cluster
):
    from gitops_operator.kube import load_api_client

    start(
        kube,
        repo,
        namespace,
        {"app/web.yaml": deployment("web", replicas=2)},
        ignoreDifferences=[
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
        ],
    )
    scaler = KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="autoscaler")
    scaler.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": 5},
        }
    )
    sha = repo.commit(
        {"app/web.yaml": deployment("web", replicas=2, image="nginx:1.28")}, "new image"
    )
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="new image applied")
    live = get(kube, "Deployment", namespace, "web", "apps/v1")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert live["spec"]["replicas"] == 5


def test_suspend_stops_applying_and_requested_at_is_echoed(kube, operator, repo, namespace):
    start(kube, repo, namespace, {"app/a.yaml": configmap("a", v="1")})
    kube.apply(application(namespace, suspend=True))
    wait_for(
        lambda: (
            condition(get_status(kube, "Application", namespace, "app")).get("reason")
            == "Suspended"
        ),
        timeout=30,
        what="Suspended",
    )
    repo.commit({"app/a.yaml": configmap("a", v="2")}, "while suspended")
    import time

    time.sleep(5)
    assert get(kube, "ConfigMap", namespace, "a")["data"] == {"v": "1"}
    app = application(namespace)
    app["metadata"]["annotations"] = {"gitops-operator.dev/requestedAt": "now-1"}
    kube.apply(app)
    wait_for(
        lambda: (
            get_status(kube, "Application", namespace, "app").get("lastHandledReconcileAt")
            == "now-1"
        ),
        timeout=30,
        what="requestedAt echoed",
    )
    wait_for(
        lambda: get(kube, "ConfigMap", namespace, "a")["data"] == {"v": "2"},
        timeout=30,
        what="resumed sync",
    )
    status = get_status(kube, "Application", namespace, "app")
    obj = kube.get(API_VERSION, ObjectRef("gitops-operator.dev", "Application", namespace, "app"))
    assert status["observedGeneration"] == obj["metadata"]["generation"]


def test_fields_of_named_managers_are_handed_over(kube, operator, repo, namespace, cluster):
    from gitops_operator.kube import load_api_client

    start(
        kube,
        repo,
        namespace,
        {"app/web.yaml": deployment("web", replicas=2)},
        ignoreDifferences=[{"kind": "Deployment", "managedFieldsManagers": ["hpa"]}],
    )
    hpa = KubeClient(load_api_client(str(cluster.kubeconfig)), field_manager="hpa")
    hpa.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": 4},
        }
    )
    sha = repo.commit(
        {"app/web.yaml": deployment("web", replicas=2, image="nginx:1.28")}, "new image"
    )
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="new image applied")
    live = get(kube, "Deployment", namespace, "web", "apps/v1")
    assert live["spec"]["replicas"] == 4
    owners = {
        f["manager"]
        for f in live["metadata"]["managedFields"]
        if "f:replicas" in (f.get("fieldsV1") or {}).get("f:spec", {})
    }
    assert owners == {"hpa"}, "spec.replicas now belongs to the autoscaler alone"


def test_a_missing_namespace_is_waited_for_not_held_against_the_revision(
    kube, operator, repo, namespace
):
    later = f"{namespace}-later"
    sha = repo.commit(
        {
            "app/cm.yaml": configmap("settings", color="blue").replace(
                "metadata:\n", f"metadata:\n  namespace: {later}\n"
            )
        },
        "a ConfigMap in a namespace that does not exist yet",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    cond = wait_for(
        lambda: failed_with(kube, namespace, "NamespaceNotFound"),
        timeout=60,
        what="NamespaceNotFound",
    )
    assert f'namespaces "{later}" not found' in cond["message"]
    status = get_status(kube, "Application", namespace, "app")
    assert "failedRevision" not in status, "the revision is not to blame"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": later}})
    try:
        wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced once it exists")
        assert get(kube, "ConfigMap", later, "settings")["data"] == {"color": "blue"}
    finally:
        kube.delete("v1", ObjectRef("", "Namespace", "", later))
