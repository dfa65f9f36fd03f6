"""Several replicas sharing the work: by consistent hashing over membership Leases (each
resource written by its one owner, a killed replica's share taken over), or by a label
selector per replica."""

from __future__ import annotations

import contextlib
import re
import signal
import time
import urllib.request

import pytest

from gitops_operator.api import API_VERSION
from gitops_operator.errors import FencedError
from gitops_operator.finalizing import FINALIZER
from gitops_operator.kube import WRITE_FENCE
from gitops_operator.manager.workers import Workers
from gitops_operator.objects import ObjectRef
from gitops_operator.sharding import owner, shard_key

from .apps import application, configmap, repository
from .support import Operator, custom, get_status, wait_for
from .test_reconcile import synced_to

N = 30
FINALIZER_FIELD = f'v:"{FINALIZER}"'
LEASE = 6
HASH_REPLICAS = ("r0", "r1", "r2")


@contextlib.contextmanager
def replicas(operator, namespace, envs):
    """Operators with these environments instead of the session's one."""
    operator.stop()
    procs = [
        Operator(operator.kubeconfig, operator.workdir / f"{namespace}-shard-{i}", env=env)
        for i, env in enumerate(envs)
    ]
    try:
        for proc in procs:
            proc.start()
        yield procs
    finally:
        for proc in procs:
            proc.stop()
        operator.start()


def hash_env(namespace, identity):
    return {
        "GITOPS_SHARDING": "hash",
        "GITOPS_SHARD_IDENTITY": identity,
        "GITOPS_SHARD_GROUP": f"g-{namespace}",
        "GITOPS_LEADER_ELECTION_NAMESPACE": namespace,  # where the membership Leases live
        "GITOPS_LEASE_DURATION": str(LEASE),
        "GITOPS_SHARD_RENEW_PERIOD": "1",
    }


def shard_of(kube, namespace, name):
    return get_status(kube, "Application", namespace, name).get("shard")


def owned_metric(proc) -> float:
    return metric(proc, r'gitops_shard_owned\{kind="Application"\}')


def metric(proc, name: str) -> float:
    url = f"http://127.0.0.1:{proc.metrics_port}/metrics"
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:  # not serving yet
        return 0.0
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def managers(obj) -> list[str]:
    return [entry["manager"] for entry in obj["metadata"].get("managedFields") or []]


def finalizer_writers(obj) -> list[str]:
    """The field managers that own the operator's finalizer (managedFields)."""
    return [
        entry["manager"]
        for entry in obj["metadata"].get("managedFields") or []
        if FINALIZER_FIELD
        in ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:finalizers", {})
    ]


def test_hash_sharding_splits_the_applications_and_a_killed_replicas_share_moves(
    kube, operator, repo, namespace
):
    names = [f"app-{i}" for i in range(N)]
    first = repo.commit({f"apps/{n}/cm.yaml": configmap(n, v="1") for n in names})
    envs = [hash_env(namespace, identity) for identity in HASH_REPLICAS]
    with replicas(operator, namespace, envs) as procs:
        wait_for(  # else the first owner of a resource may be one that then hands it on
            lambda: all(metric(p, "gitops_shard_members") == len(procs) for p in procs),
            timeout=60,
            what="every replica seeing every member",
        )
        kube.apply(repository(namespace, repo.url, interval="1s"))
        for name in names:
            kube.apply(application(namespace, name, path=f"apps/{name}", interval="1m"))
        wait_for(
            lambda: all(synced_to(kube, namespace, first, n) for n in names),
            timeout=180,
            what="every Application synced",
        )

        def expected(members, name):
            return owner(members, shard_key("Application", namespace, name))

        wait_for(
            lambda: all(shard_of(kube, namespace, n) == expected(HASH_REPLICAS, n) for n in names),
            timeout=30,
            what="each Application's status.shard naming its hash owner",
        )
        shares = {r: sum(shard_of(kube, namespace, n) == r for n in names) for r in HASH_REPLICAS}
        assert all(count >= N // 6 for count in shares.values()), shares
        wait_for(
            lambda: sum(owned_metric(p) for p in procs) == N,
            timeout=30,
            what="gitops_shard_owned adding up to every Application once",
        )
        for proc, identity in zip(procs, HASH_REPLICAS, strict=True):
            assert owned_metric(proc) == shares[identity]
        # the API server's own record: each finalizer written by its owner, none by kopf
        for name in names:
            app = kube.get(API_VERSION, custom("Application", namespace, name))
            assert finalizer_writers(app) == [f"gitops-operator-{expected(HASH_REPLICAS, name)}"]
            assert "kopf" not in managers(app), app["metadata"]["managedFields"]
        source = kube.get(API_VERSION, custom("GitRepository", namespace, "app"))
        source_owner = owner(HASH_REPLICAS, shard_key("GitRepository", namespace, "app"))
        assert finalizer_writers(source) == [f"gitops-operator-{source_owner}"]

        victim = procs[1]
        lost = [n for n in names if shard_of(kube, namespace, n) == "r1"]
        changed = lost[0]
        doomed = lost[1]  # deleted while its owner is dead: pruned by whoever takes it
        victim.stop(signal.SIGKILL)
        killed = time.monotonic()
        kube.delete(API_VERSION, custom("Application", namespace, doomed))
        second = repo.commit({f"apps/{changed}/cm.yaml": configmap(changed, v="2")})
        survivors = ("r0", "r2")
        moved = [n for n in lost if n != doomed]
        wait_for(
            lambda: all(shard_of(kube, namespace, n) == expected(survivors, n) for n in moved),
            timeout=LEASE + 60,
            what="the killed replica's Applications taken over by the survivors",
        )
        wait_for(
            lambda: pruned_and_gone(kube, namespace, doomed),
            timeout=60,
            what="the Application deleted while its owner was dead pruned by its new owner",
        )
        took = time.monotonic() - killed
        wait_for(
            lambda: synced_to(kube, namespace, second, changed),
            timeout=60,
            what="the new owner applying the next commit",
        )
        print(f"bench: {len(lost)} Applications of a SIGKILLed replica taken over in {took:.1f}s")
        kept = [n for n in names if n not in lost]
        assert all(shard_of(kube, namespace, n) == expected(HASH_REPLICAS, n) for n in kept), (
            "only the lost replica's share moves"
        )
        new_owner = next(
            p
            for p, r in zip(procs, HASH_REPLICAS, strict=True)
            if r == expected(survivors, changed)
        )
        assert f"object=Application/{namespace}/{changed} now owned by this replica" in (
            new_owner.logs()
        )

        # a deletion is pruned by the owner; the other replica never drops the finalizer first
        gone = kept[0]
        kube.delete(API_VERSION, custom("Application", namespace, gone))
        wait_for(
            lambda: pruned_and_gone(kube, namespace, gone),
            timeout=60,
            what="the deleted Application's ConfigMap pruned, then the Application gone",
        )


def test_label_sharding_reconciles_only_the_selected_applications(kube, operator, repo, namespace):
    first = repo.commit({f"apps/{n}/cm.yaml": configmap(n, v="1") for n in ("a", "b", "rest")})
    envs = [
        {
            "GITOPS_SHARDING": "labels",
            "GITOPS_SHARD_IDENTITY": identity,
            "GITOPS_SHARD_SELECTOR": selector,
        }
        for identity, selector in (
            ("shard-a", "sharding.fluxcd.io/key=a"),
            ("shard-b", "sharding.fluxcd.io/key=b"),
            ("unlabelled", "!sharding.fluxcd.io/key"),
        )
    ]
    with replicas(operator, namespace, envs) as procs:
        for proc in procs:
            proc.wait_live()
        kube.apply(repository(namespace, repo.url, interval="1s"))
        for name, key in (("a", "a"), ("b", "b"), ("rest", None)):
            app = application(namespace, name, path=f"apps/{name}")
            if key:
                app["metadata"]["labels"] = {"sharding.fluxcd.io/key": key}
            kube.apply(app)
        wait_for(
            lambda: all(synced_to(kube, namespace, first, n) for n in ("a", "b", "rest")),
            timeout=90,
            what="every Application synced by its shard",
        )
        assert shard_of(kube, namespace, "a") == "shard-a"
        assert shard_of(kube, namespace, "b") == "shard-b"
        assert shard_of(kube, namespace, "rest") == "unlabelled"
        repo_status = get_status(kube, "GitRepository", namespace, "app")
        assert repo_status.get("shard") == "unlabelled", "the unlabelled GitRepository"
        assert f"Application/{namespace}/a " not in procs[1].logs()
        assert f"Application/{namespace}/b " not in procs[0].logs()

        # relabelled into shard a: that replica takes it and applies the next commit
        kube.patch(
            API_VERSION,
            custom("Application", namespace, "rest"),
            {"metadata": {"labels": {"sharding.fluxcd.io/key": "a"}}},
        )
        second = repo.commit({"apps/rest/cm.yaml": configmap("rest", v="2")})
        wait_for(
            lambda: (
                synced_to(kube, namespace, second, "rest")
                and shard_of(kube, namespace, "rest") == "shard-a"
            ),
            timeout=90,
            what="the relabelled Application applied by shard a",
        )


def test_a_write_fence_stops_writes_before_they_are_sent_in_any_thread(kube, namespace):
    """What every write of a sharded reconcile passes: refused writes never reach the API
    server, in the task's own thread or on the apply pool; reads and dry-runs go through."""
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "fenced", "namespace": namespace},
        "data": {"a": "1"},
    }
    ref = ObjectRef("", "ConfigMap", namespace, "fenced")

    def refuse() -> None:
        raise FencedError("not owned here")

    token = WRITE_FENCE.set(refuse)
    try:
        with pytest.raises(FencedError):
            kube.apply(cm)
        with pytest.raises(FencedError):
            Workers(kube, concurrency=2).map(kube.apply, [cm, cm])
        assert kube.apply(cm, dry_run=True)["data"] == {"a": "1"}
        assert kube.get("v1", ref) is None
    finally:
        WRITE_FENCE.reset(token)
    kube.apply(cm)
    assert kube.get("v1", ref) is not None


def test_status_shard_goes_once_sharding_is_turned_off(kube, operator, repo, namespace):
    first = repo.commit({"apps/solo/cm.yaml": configmap("solo", v="1")})
    env = {
        "GITOPS_SHARDING": "labels",
        "GITOPS_SHARD_IDENTITY": "only",
        "GITOPS_SHARD_SELECTOR": "!sharding.fluxcd.io/key",
    }
    with replicas(operator, namespace, [env]):
        kube.apply(repository(namespace, repo.url, interval="1s"))
        kube.apply(application(namespace, "solo", path="apps/solo"))
        wait_for(
            lambda: (
                synced_to(kube, namespace, first, "solo")
                and shard_of(kube, namespace, "solo") == "only"
            ),
            timeout=90,
            what="the Application synced by the sharded replica",
        )
    # the session's operator, not sharded, is back: its first writes drop status.shard
    wait_for(
        lambda: (
            "shard" not in get_status(kube, "Application", namespace, "solo")
            and "shard" not in get_status(kube, "GitRepository", namespace, "app")
        ),
        timeout=90,
        what="status.shard removed from the Application and its GitRepository",
    )
    assert synced_to(kube, namespace, first, "solo")


def test_a_replica_watches_for_drift_only_the_objects_of_its_own_applications(
    kube, operator, repo, namespace
):
    account = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: b\n"
    first = repo.commit({"apps/a/cm.yaml": configmap("a", v="1"), "apps/b/sa.yaml": account})
    envs = [
        {
            "GITOPS_SHARDING": "labels",
            "GITOPS_SHARD_IDENTITY": f"shard-{key}",
            "GITOPS_SHARD_SELECTOR": f"sharding.fluxcd.io/key={key}",
        }
        for key in ("a", "b")
    ]
    with replicas(operator, namespace, envs) as procs:
        source = repository(namespace, repo.url, interval="1s")
        source["metadata"]["labels"] = {"sharding.fluxcd.io/key": "a"}
        kube.apply(source)
        for name in ("a", "b"):
            app = application(namespace, name, path=f"apps/{name}")
            app["metadata"]["labels"] = {"sharding.fluxcd.io/key": name}
            kube.apply(app)
        wait_for(
            lambda: all(synced_to(kube, namespace, first, n) for n in ("a", "b")),
            timeout=90,
            what="both Applications synced by their shards",
        )

        def watches() -> tuple[float, ...]:
            return tuple(metric(p, "gitops_drift_watches") for p in procs)

        # one kind each (ConfigMaps for a, ServiceAccounts for b), not both kinds on both
        wait_for(lambda: watches() == (1, 1), timeout=30, what="one drift watch per replica")
        kube.patch(
            API_VERSION,
            custom("Application", namespace, "b"),
            {"metadata": {"labels": {"sharding.fluxcd.io/key": "a"}}},
        )
        wait_for(
            lambda: watches() == (2, 0),
            timeout=60,
            what="the relabelled Application's kind watched by shard a only",
        )


def pruned_and_gone(kube, namespace: str, name: str) -> bool:
    """The Application ``name`` and its ConfigMap of the same name are both gone."""
    return (
        kube.get(API_VERSION, custom("Application", namespace, name)) is None
        and kube.get("v1", ObjectRef("", "ConfigMap", namespace, name)) is None
    )
