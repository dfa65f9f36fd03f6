"""Faults: the API server, etcd, the Git server and the operator itself fail mid-sync.

Each test asserts that nothing is lost: the inventory is exact, no object is orphaned,
nothing is half-applied, history is intact and status tells the truth.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from gitserver import GitHTTPServer
from integration.apps import application, configmap, repository
from integration.support import GitRepo, condition, get_status, wait_for
from integration.test_reconcile import synced_to

pytestmark = pytest.mark.integration

N = 200


def objects(generation: int, count: int = N) -> dict[str, str | None]:
    return {
        f"app/cm-{i:03}.yaml": configmap(f"cm-{i:03}", gen=str(generation)) for i in range(count)
    }


def managed(kube, namespace: str) -> set[str]:
    """ConfigMaps in the namespace that the operator has written."""
    return {
        cm["metadata"]["name"]
        for cm in kube.list("v1", "ConfigMap", namespace)
        if any(
            f.get("manager") == "gitops-operator" for f in cm["metadata"].get("managedFields") or []
        )
    }


def inventory_names(kube, namespace: str) -> set[str]:
    entries = (get_status(kube, "Application", namespace, "app").get("inventory") or {}).get(
        "entries"
    ) or []
    return {e["id"].split("_")[1] for e in entries if e["id"].endswith("_ConfigMap")}


def assert_no_orphans(kube, namespace: str) -> None:
    orphans = managed(kube, namespace) - inventory_names(kube, namespace)
    assert not orphans, f"objects the inventory does not know: {sorted(orphans)[:5]}"


def assert_exact(kube, namespace: str, names: set[str], generation: int) -> None:
    assert inventory_names(kube, namespace) == names
    live = {
        cm["metadata"]["name"]: cm.get("data") for cm in kube.list("v1", "ConfigMap", namespace)
    }
    assert names <= set(live)
    assert all(live[n] == {"gen": str(generation)} for n in names), "a half-applied revision"
    assert managed(kube, namespace) == names


def test_apiserver_killed_during_a_sync_converges_after_its_return(
    kube, cluster, operator, repo, namespace
):
    sha = repo.commit(objects(1), "200 objects")
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: managed(kube, namespace), timeout=60, what="the sync under way")
    cluster.kill_component("kube-apiserver")
    time.sleep(3)
    cluster.restart_component("kube-apiserver")
    returned = time.monotonic()
    cluster.wait_ready()
    wait_for(
        lambda: synced_to(kube, namespace, sha),
        timeout=60,
        what="convergence within 60s of the API server's return",
    )
    assert time.monotonic() - returned < 60
    assert_exact(kube, namespace, {f"cm-{i:03}" for i in range(N)}, 1)
    assert operator.alive


def test_operator_killed_at_random_points_leaves_no_orphans(kube, operator, repo, namespace):
    rng = random.Random(20261126)
    kube.apply(repository(namespace, repo.url, interval="1s"))
    kube.apply(application(namespace))
    names: set[str] = set()
    for generation in range(1, 11):
        count = N if generation % 2 else N - 40 + generation  # adds and prunes
        files = objects(generation, count)
        removed = {
            f"app/cm-{i:03}.yaml": None for i in range(count, N + 10) if f"cm-{i:03}" in names
        }
        repo.commit({**files, **removed}, f"generation {generation}")
        names = {f"cm-{i:03}" for i in range(count)}
        time.sleep(rng.uniform(0.3, 2.5))
        operator.stop(signal.SIGKILL)
        assert_no_orphans(kube, namespace)
        operator.start()
    sha = repo.commit({}, "settle")
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=120, what="the last sync")
    assert_exact(kube, namespace, names, 10)
    history = get_status(kube, "Application", namespace, "app")["history"]
    assert history[0]["revision"] == f"main@sha1:{sha}"


def test_git_down_deletes_nothing_and_recovers(kube, operator, git_root, namespace):
    server = GitHTTPServer(git_root).start()
    port = server.port
    repo = GitRepo.create(git_root, f"down-{namespace}", server.url(f"down-{namespace}.git"))
    sha = repo.commit(objects(1, 20))
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="synced")
    server.stop()
    newer = repo.commit({f"app/cm-{i:03}.yaml": None for i in range(10, 20)}, "drop ten")

    def git_failing():
        cond = condition(get_status(kube, "GitRepository", namespace, "app"))
        return cond if cond.get("status") == "False" else None

    cond = wait_for(git_failing, timeout=30, what="Ready=False on the repository")
    assert cond["reason"] == "GitOperationFailed" and "Failed to connect" in cond["message"]
    time.sleep(5)
    assert managed(kube, namespace) == {f"cm-{i:03}" for i in range(20)}, "nothing deleted"
    assert condition(get_status(kube, "Application", namespace, "app"))["status"] == "True"

    server = GitHTTPServer(git_root, port=port).start()
    try:
        wait_for(lambda: synced_to(kube, namespace, newer), timeout=90, what="recovery")
        assert_exact(kube, namespace, {f"cm-{i:03}" for i in range(10)}, 1)
    finally:
        server.stop()


def test_etcd_paused_causes_no_crash_and_no_duplicate_history(
    kube, cluster, operator, repo, namespace
):
    first = repo.commit(objects(1, 50))
    kube.apply(repository(namespace, repo.url, interval="1s"))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="synced")
    second = repo.commit(objects(2, 50))
    time.sleep(0.5)
    cluster.kill_component("etcd", signal.SIGSTOP)
    time.sleep(8)
    cluster.kill_component("etcd", signal.SIGCONT)
    wait_for(lambda: synced_to(kube, namespace, second), timeout=90, what="converged")
    assert operator.alive
    history = get_status(kube, "Application", namespace, "app")["history"]
    revisions = [h["revision"] for h in history]
    assert len(revisions) == len(set(revisions)), revisions
    assert revisions[:2] == [f"main@sha1:{second}", f"main@sha1:{first}"]
    assert_exact(kube, namespace, {f"cm-{i:03}" for i in range(50)}, 2)
