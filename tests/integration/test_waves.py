"""Sync waves on the real control plane: each wave healthy before the next is created,
prune highest wave first, a wave that never turns healthy rolls the revision back, and a
repository annotated for Argo CD syncs with its waves and options."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import yaml
from kubernetes import client, watch

from gitops_operator.kube import KubeClient, load_api_client
from localcluster import NEVER_READY_LABEL

from .apps import application, repository
from .support import condition, events_for, get_status, wait_for
from .test_reconcile import get, synced_to

ARGO_WAVE = "argocd.argoproj.io/sync-wave"
WAVE = "gitops-operator.dev/sync-wave"


def stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def config(name: str, annotations: dict[str, str] | None = None) -> str:
    meta: dict[str, Any] = {"name": name, "annotations": annotations or {}}
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})


def slow_deployment(
    name: str, annotations: dict[str, str], *, never_ready: bool = False, ready_after: int = 3
) -> str:
    """A Deployment that is available only ``ready_after`` seconds after its pod is ready
    (minReadySeconds; no replica may be unavailable, so Available=True means it is)."""
    labels = {"app": name}
    pod_labels = {**labels, **({NEVER_READY_LABEL: "true"} if never_ready else {})}
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "replicas": 1,
                "minReadySeconds": ready_after,
                "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
                },
            },
        }
    )


def created(kube: KubeClient, kind: str, namespace: str, name: str, version: str = "v1"):
    obj = get(kube, kind, namespace, name, version)
    assert obj is not None, f"{kind}/{name} was not created"
    return stamp(obj["metadata"]["creationTimestamp"])


def available_since(kube: KubeClient, namespace: str, name: str) -> datetime:
    obj = get(kube, "Deployment", namespace, name, "apps/v1") or {}
    conditions = (obj.get("status") or {}).get("conditions") or []
    available = next(c for c in conditions if c["type"] == "Available")
    assert available["status"] == "True"
    return stamp(available["lastTransitionTime"])


def app_status(kube: KubeClient, namespace: str) -> dict[str, Any]:
    return get_status(kube, "Application", namespace, "app")


def test_argo_annotated_waves_apply_in_order_each_healthy_before_the_next(
    kube, operator, repo, namespace
):
    sha = repo.commit(
        {
            "app/db.yaml": slow_deployment("db", {ARGO_WAVE: "-1"}),
            "app/config.yaml": config("config"),  # no annotation: wave 0
            # both annotations: ours wins; Argo CD's sync and compare options it always honours
            "app/web.yaml": slow_deployment(
                "web",
                {
                    WAVE: "1",
                    ARGO_WAVE: "-5",
                    "argocd.argoproj.io/sync-options": "ServerSideApply=true,PruneLast=true",
                    "argocd.argoproj.io/compare-options": "IgnoreExtraneous",
                },
            ),
            "app/smoke.yaml": config("after-web", {ARGO_WAVE: "2"}),
        },
        "waves",
    )
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="60s"))

    waiting = wait_for(
        lambda: (
            (app_status(kube, namespace).get("syncWave") or {}).get("wave") == -1
            and app_status(kube, namespace)
        ),
        timeout=60,
        what="the first wave recorded in status.syncWave",
    )
    assert waiting["syncWave"]["remaining"] == 3
    assert waiting["sync"] == "OutOfSync"
    assert get(kube, "ConfigMap", namespace, "config") is None, "wave 0 before -1 is healthy"
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="every wave applied")

    db_ready = available_since(kube, namespace, "db")
    assert db_ready >= created(kube, "Deployment", namespace, "db", "apps/v1")
    assert created(kube, "ConfigMap", namespace, "config") >= db_ready
    web_created = created(kube, "Deployment", namespace, "web", "apps/v1")
    assert web_created >= created(kube, "ConfigMap", namespace, "config")
    assert web_created >= db_ready, "ours (1) wins over Argo CD's (-5)"
    assert created(kube, "ConfigMap", namespace, "after-web") >= available_since(
        kube, namespace, "web"
    )

    status = app_status(kube, namespace)
    assert "syncWave" not in status
    assert status["sync"] == "Synced"
    assert status["lastGoodRevision"] == f"main@sha1:{sha}"
    assert status["lastAppliedChanges"] == {"created": 4}
    assert [h["result"] for h in status["history"]] == ["Succeeded"]
    waves = [
        e["message"] for e in events_for(kube, namespace, "app") if e["reason"] == "WaveApplied"
    ]
    assert any(m.startswith("applied wave 2 of revision") for m in waves), waves


def deletions(
    api_client: client.ApiClient,
    namespace: str,
    since: str | None,
    stop: threading.Event,
    seen: list[str],
) -> None:
    """Record, in the order the API server made them, the ConfigMaps deleted in
    ``namespace`` (or marked for deletion) after resourceVersion ``since`` until ``stop``
    is set: the caller lists before it changes anything, so a watch that connects late
    still misses nothing."""
    api = client.CoreV1Api(api_client)
    stream = watch.Watch()
    try:
        for event in stream.stream(
            api.list_namespaced_config_map, namespace, resource_version=since, timeout_seconds=60
        ):
            if event["type"] == "DELETED":
                seen.append(event["object"].metadata.name)
            if stop.is_set():
                break
    except Exception:  # the namespace or the cluster went away once the test was over
        if not stop.is_set():
            raise
    finally:
        stream.stop()


def test_prune_deletes_highest_wave_first_and_keeps_prune_false(
    kube, cluster, operator, repo, namespace
):
    files = {
        "app/stay.yaml": config("stay"),
        "app/kept.yaml": config("kept", {"argocd.argoproj.io/sync-options": "Prune=false"}),
    }
    # names sort against their waves: a prune by apply order would go the other way
    for wave, names in (("1", ("c1", "d1")), ("2", ("b2", "e2")), ("3", ("a3", "f3"))):
        files.update({f"app/{n}.yaml": config(n, {ARGO_WAVE: wave}) for n in names})
    first = repo.commit(files, "six objects in three waves")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=90, what="every wave applied")

    seen: list[str] = []
    stop = threading.Event()
    api_client = load_api_client(str(cluster.kubeconfig))
    listed = client.CoreV1Api(api_client).list_namespaced_config_map(namespace).metadata
    watcher = threading.Thread(
        target=deletions,
        args=(api_client, namespace, listed.resource_version if listed else None, stop, seen),
        daemon=True,
    )
    watcher.start()
    second = repo.commit({p: None for p in files if p != "app/stay.yaml"}, "only stay")
    wait_for(lambda: synced_to(kube, namespace, second), timeout=60, what="the prune")
    wait_for(lambda: len(seen) >= 6, timeout=30, what="six deletions")
    stop.set()

    assert sorted(seen[:2]) == ["a3", "f3"], seen
    assert sorted(seen[2:4]) == ["b2", "e2"], seen
    assert sorted(seen[4:]) == ["c1", "d1"], seen
    kept = get(kube, "ConfigMap", namespace, "kept")
    assert kept is not None and not kept["metadata"].get("deletionTimestamp"), "Prune=false"
    status = app_status(kube, namespace)
    assert status["lastAppliedChanges"] == {"deleted": 6, "skipped": 1, "unchanged": 1}
    assert [e["id"] for e in status["inventory"]["entries"]] == [f"{namespace}_stay__ConfigMap"]


def test_wave_that_never_turns_healthy_rolls_back_before_the_next_wave(
    kube, operator, repo, namespace
):
    good = repo.commit({"app/base.yaml": config("base")}, "good")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="6s"))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="the good revision")
    bad = repo.commit(
        {
            "app/db.yaml": slow_deployment("db", {}, never_ready=True),
            "app/after.yaml": config("after", {WAVE: "1"}),
        },
        "a database that never starts",
    )

    def rolled_back():
        status = app_status(kube, namespace)
        return status if condition(status, "RolledBack").get("status") == "True" else None

    status = wait_for(rolled_back, timeout=90, what="the rollback")
    assert status["failedRevision"] == f"main@sha1:{bad}"
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    assert (
        f"wave 0 of revision main@sha1:{bad} did not become healthy within 6s"
        in (condition(status, "RolledBack")["message"])
    )
    assert "syncWave" not in status
    assert get(kube, "ConfigMap", namespace, "after") is None, "wave 1 was never applied"
    assert get(kube, "ConfigMap", namespace, "base") is not None
    wait_for(
        lambda: get(kube, "Deployment", namespace, "db", "apps/v1") is None,
        timeout=30,
        what="the failed wave pruned by the rollback",
    )
