"""Hash sharding as the chart runs it: ``helm install`` with ``sharding.mode=hash`` and two
replicas as pods on the real node. Both work, each Application names its owner pod in
``status.shard``, and each finalizer was written by that pod (the API server's
managedFields)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer
from integration.apps import application, configmap, repository
from integration.support import GitRepo, condition, get_status, wait_for
from localcluster import LocalCluster

from .test_operator_pod import helm, install, onboard, operator_pods

SHARDED_NS = "gitops-sharded"
RELEASE = "sharded"
N = 8
FINALIZER_FIELD = f'v:"{GROUP}/finalizer"'


@pytest.fixture(scope="module")
def sharded(
    node_cluster: LocalCluster, node_kube: KubeClient, operator_image: dict[str, Any]
) -> Iterator[list[str]]:
    seconds = install(
        node_cluster,
        node_kube,
        operator_image,
        SHARDED_NS,
        "sharding.mode=hash",
        "replicaCount=2",
        release=RELEASE,
    )
    print(f"bench: helm install of 2 hash-sharded replicas to Ready in {seconds:.1f}s")
    yield [p["metadata"]["name"] for p in operator_pods(node_kube, SHARDED_NS)]
    helm(node_cluster, "uninstall", RELEASE, "--namespace", SHARDED_NS, "--wait")


def members(kube: KubeClient) -> set[str]:
    leases = kube.list("coordination.k8s.io/v1", "Lease", SHARDED_NS)
    return {str(lease["spec"].get("holderIdentity")) for lease in leases}


def finalizer_writers(obj: dict[str, Any]) -> list[str]:
    return [
        entry["manager"]
        for entry in obj["metadata"].get("managedFields") or []
        if FINALIZER_FIELD
        in (((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:finalizers") or {})
    ]


def test_two_hash_sharded_pods_share_the_applications_and_own_their_finalizers(
    node_kube: KubeClient, sharded: list[str], node_git: GitHTTPServer, node_namespace: str
):
    assert len(sharded) == 2, sharded
    wait_for(  # else one pod may own everything first, then hand half of it on
        lambda: set(sharded) <= members(node_kube), 60, "both pods' membership Leases"
    )
    onboard(node_kube, node_namespace)
    name = f"r-{uuid.uuid4().hex[:8]}"
    repo = GitRepo.create(node_git.root, name, node_git.url(f"{name}.git"))
    names = [f"app-{i}" for i in range(N)]
    sha = repo.commit({f"apps/{n}/cm.yaml": configmap(n, v="1") for n in names}, "first")
    node_kube.apply(repository(node_namespace, repo.url, interval="1h"))
    for n in names:
        node_kube.apply(application(node_namespace, n, path=f"apps/{n}"))

    def synced(n: str) -> bool:
        status = get_status(node_kube, "Application", node_namespace, n)
        return (
            status.get("lastAppliedRevision") == f"main@sha1:{sha}"
            and condition(status).get("status") == "True"
            and status.get("shard") in sharded
        )

    wait_for(lambda: all(synced(n) for n in names), 180, "every Application synced")
    shards = {}
    for n in names:
        app = node_kube.get(API_VERSION, ObjectRef(GROUP, "Application", node_namespace, n))
        assert app is not None
        shards[n] = app["status"]["shard"]
        assert finalizer_writers(app) == [f"gitops-operator-{shards[n]}"], app["metadata"]
    assert set(shards.values()) == set(sharded), f"both pods work: {shards}"
