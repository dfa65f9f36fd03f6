"""The chart's RBAC is exactly enough, in both scopes, with its defaults (no
cluster-admin): the operator pod syncs through a tenant ServiceAccount, and an
Application whose account is missing is told so, with nothing applied; and with two
replicas, deleting the leader's pod hands over within the lease duration without a
second write of what was already applied."""

from __future__ import annotations

import time
from typing import Any

from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer
from integration.support import condition, get_status, wait_for
from integration.test_tenancy import tenant
from localcluster import LocalCluster

from .test_operator_pod import applied, diagnosis, helm, install, operator_pods, sync_repo

LEASE_SECONDS = 15  # the operator's default lease duration
GRACE_SECONDS = 30  # the chart's pods keep Kubernetes' default termination grace period


def synced(
    cluster: LocalCluster, kube: KubeClient, namespace: str, sha: str, release_ns: str
) -> None:
    try:
        wait_for(lambda: applied(kube, namespace, sha), 90, "the sync")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnosis(cluster, kube, namespace, release_ns)}") from None


def test_namespace_scope_without_cluster_admin_syncs_as_the_tenant(
    node_cluster: LocalCluster,
    node_kube: KubeClient,
    operator_image: dict[str, Any],
    node_git: GitHTTPServer,
    node_namespace: str,
):
    # The operator lives in, and watches only, the tenant's namespace.
    install(
        node_cluster,
        node_kube,
        operator_image,
        node_namespace,
        "rbac.scope=namespace",
        "webhook.enabled=false",
        release="scoped",
    )
    try:
        tenant(node_kube, node_namespace)
        _, sha = sync_repo(node_kube, node_git, node_namespace, serviceAccountName="tenant")
        synced(node_cluster, node_kube, node_namespace, sha, node_namespace)
        live = node_kube.get("v1", ObjectRef("", "ConfigMap", node_namespace, "a")) or {}
        assert live.get("data") == {"v": "1"}
    finally:
        helm(node_cluster, "uninstall", "scoped", "--namespace", node_namespace, "--wait")


def lease_holder(kube: KubeClient, namespace: str) -> str:
    lease = kube.get(
        "coordination.k8s.io/v1",
        ObjectRef("coordination.k8s.io", "Lease", namespace, "ha-gitops-operator-leader"),
    )
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


def test_cluster_scope_two_replicas_tenants_only_and_the_standby_takes_over(
    node_cluster: LocalCluster,
    node_kube: KubeClient,
    operator_image: dict[str, Any],
    node_git: GitHTTPServer,
    node_namespace: str,
):
    release_ns = f"{node_namespace}-op"
    install(
        node_cluster,
        node_kube,
        operator_image,
        release_ns,
        "replicaCount=2",
        "webhook.enabled=false",
        release="ha",
    )
    try:
        tenant(node_kube, node_namespace)
        repo, sha = sync_repo(
            node_kube, node_git, node_namespace, interval="2s", serviceAccountName="tenant"
        )
        synced(node_cluster, node_kube, node_namespace, sha, release_ns)

        # Naming no ServiceAccount, the Application acts as the chart's default one,
        # gitops-reconciler, which this namespace does not have: it is told so, and
        # nothing is written (the operator's own identity is never used instead).
        own = repo.commit(
            {"own/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"}, "own"
        )
        wait_for(
            lambda: (
                get_status(node_kube, "GitRepository", node_namespace, "app")
                .get("artifact", {})
                .get("sha")
                == own
            ),
            60,
            "the commit with own/ fetched",
        )
        node_kube.apply(
            {
                "apiVersion": "gitops-operator.dev/v1alpha1",
                "kind": "Application",
                "metadata": {"name": "own", "namespace": node_namespace},
                "spec": {"sourceRef": {"name": "app"}, "path": "own"},
            }
        )

        def forbidden() -> dict[str, Any] | None:
            status = get_status(node_kube, "Application", node_namespace, "own")
            reason = condition(status).get("reason")
            return status if reason == "ServiceAccountNotFound" else None

        try:
            refused = wait_for(forbidden, 90, "ServiceAccountNotFound")
        except AssertionError as exc:
            detail = diagnosis(node_cluster, node_kube, node_namespace, release_ns)
            own_status = get_status(node_kube, "Application", node_namespace, "own")
            raise AssertionError(f"{exc}\nown: {own_status}\n{detail}") from None
        assert condition(refused)["status"] == "False"
        assert f"{node_namespace}/gitops-reconciler not found" in condition(refused)["message"]
        assert node_kube.get("v1", ObjectRef("", "ConfigMap", node_namespace, "b")) is None

        leader = wait_for(lambda: lease_holder(node_kube, release_ns), 60, "a leader")
        pods = {p["metadata"]["name"] for p in operator_pods(node_kube, release_ns)}
        assert len(pods) == 2
        (leader_pod,) = [p for p in pods if leader.startswith(p)]
        before = (node_kube.get("v1", ObjectRef("", "ConfigMap", node_namespace, "a")) or {})[
            "metadata"
        ]
        deleted = time.monotonic()
        node_kube.delete("v1", ObjectRef("", "Pod", release_ns, leader_pod))
        standby = next(iter(pods - {leader_pod}))

        def new_leader() -> str:
            # The standby, or the ReplicaSet's replacement of the deleted pod if it started
            # first: either is a leader that is not the deleted pod.
            holder = lease_holder(node_kube, release_ns)
            return "" if not holder or holder.startswith(leader_pod) else holder

        try:
            holder = wait_for(new_leader, LEASE_SECONDS + GRACE_SECONDS, "another pod to lead")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n{diagnosis(node_cluster, node_kube, node_namespace, release_ns)}"
            ) from None
        took_over = time.monotonic() - deleted
        print(
            f"bench: leader pod deleted to takeover in {took_over:.1f}s"
            f" ({'the standby' if holder.startswith(standby) else 'the replacement pod'})"
        )
        # A leader stopped by SIGTERM releases the Lease, so a standby takes it within its
        # retry period; only a leader killed outright holds it for a lease duration.
        assert took_over < LEASE_SECONDS, "a gracefully stopped leader releases its Lease"

        # The new leader reconciles (a new commit arrives) without rewriting what the
        # old one applied and nothing changed since.
        second = repo.commit(
            {"app/c.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"}, "more"
        )
        synced(node_cluster, node_kube, node_namespace, second, release_ns)
        after = (node_kube.get("v1", ObjectRef("", "ConfigMap", node_namespace, "a")) or {})[
            "metadata"
        ]
        assert after["resourceVersion"] == before["resourceVersion"], "applied twice"
    finally:
        helm(node_cluster, "uninstall", "ha", "--namespace", release_ns, "--wait")
        node_kube.delete("v1", ObjectRef("", "Namespace", "", release_ns))
