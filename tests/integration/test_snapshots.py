"""Snapshot Secrets drive writes with the operator's identity: a forged one is refused."""

from __future__ import annotations

import base64
import contextlib

from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.config import operator_namespace
from gitops_operator.objects import Manifest, ObjectRef
from gitops_operator.reconcilers.snapshots import KEY_SECRET, MAC_SUFFIX, decode, encode, mac

from .apps import application, configmap, deployment, repository
from .support import condition, events_for, events_with, get_status, wait_for
from .test_reconcile import synced_to
from .test_rollback import rolled_back


def escalation(namespace: str) -> Manifest:
    """What an attacker who may only write Secrets in ``namespace`` would like applied."""
    return Manifest(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"pwned-{namespace}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
        },
        "forged.yaml",
    )


def test_a_forged_snapshot_is_refused_and_never_applied(kube, operator, repo, namespace):
    good = repo.commit({"app/web.yaml": deployment("web"), "app/cm.yaml": configmap("c")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, healthTimeout="6s", driftInterval="2s", selfHeal=True))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")
    ref = ObjectRef("", "Secret", namespace, "gitops-snapshot-app")
    secret = wait_for(lambda: kube.get("v1", ref), what="the snapshot Secret")
    assert good in secret["data"]

    # Rewrite the last good revision's snapshot, as anyone allowed to edit Secrets here
    # could, then restart the operator so that it reads the Secret again.
    forged = encode([escalation(namespace)])
    secret["data"][good] = base64.b64encode(forged.encode()).decode()
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ref.name, "namespace": namespace},
            "data": secret["data"],
        }
    )
    operator.stop()
    operator.start()

    def rejected():
        cond = condition(get_status(kube, "Application", namespace, "app"))
        return cond if cond.get("reason") == "SnapshotRejected" else None

    cond = wait_for(rejected, timeout=60, what="the drift check refusing the snapshot")
    assert "failed authentication" in cond["message"] and cond["status"] == "False"
    assert events_with(kube, namespace, "app", "SnapshotRejected")

    # A failing revision still rolls back: from Git, not from the forged snapshot.
    repo.commit({"app/web.yaml": deployment("web", never_ready=True)}, "bad")
    status = wait_for(lambda: rolled_back(kube, namespace), timeout=90, what="RolledBack")
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    binding = ObjectRef("rbac.authorization.k8s.io", "ClusterRoleBinding", "", f"pwned-{namespace}")
    assert kube.get("rbac.authorization.k8s.io/v1", binding) is None, "nothing forged applied"
    assert kube.get("v1", ObjectRef("", "ConfigMap", namespace, "c")) is not None


def test_an_authentic_snapshot_holding_an_object_never_owned_is_not_applied(
    kube, operator, repo, namespace
):
    """Even a snapshot with a valid MAC (say, the key leaked) brings back only what the
    Application owned: a cluster-scoped object status.inventory does not record is not
    applied, and the revision is rendered from Git instead."""
    good = repo.commit({"app/cm.yaml": configmap("c")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, driftInterval="2s", selfHeal=True))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="good revision")
    ref = ObjectRef("", "Secret", namespace, "gitops-snapshot-app")
    secret = wait_for(lambda: kube.get("v1", ref), what="the snapshot Secret")
    app = kube.get(API_VERSION, ObjectRef(GROUP, "Application", namespace, "app"))
    key_ref = ObjectRef("", "Secret", operator_namespace(), KEY_SECRET)
    key = base64.b64decode(kube.get("v1", key_ref)["data"]["key"])
    genuine = decode(base64.b64decode(secret["data"][good]).decode())
    forged = encode([*genuine, escalation(namespace)])
    secret["data"][good] = base64.b64encode(forged.encode()).decode()
    signature = mac(key, app, good, forged)
    secret["data"][good + MAC_SUFFIX] = base64.b64encode(signature.encode()).decode()
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": ref.name, "namespace": namespace},
            "data": secret["data"],
        }
    )
    operator.stop()
    operator.start()
    binding = ObjectRef("rbac.authorization.k8s.io", "ClusterRoleBinding", "", f"pwned-{namespace}")

    def refused() -> list[dict]:
        return [e for e in events_for(kube, namespace, "app") if "does not record" in e["message"]]

    try:
        wait_for(
            lambda: refused() or kube.get("rbac.authorization.k8s.io/v1", binding),
            timeout=60,
            what="the drift check reading the snapshot",
        )
        assert kube.get("rbac.authorization.k8s.io/v1", binding) is None, "nothing forged applied"
        assert "ClusterRoleBinding/pwned" in refused()[0]["message"]
        assert synced_to(kube, namespace, good), "the revision still applies, from Git"
    finally:
        with contextlib.suppress(Exception):
            kube.delete("rbac.authorization.k8s.io/v1", binding)
