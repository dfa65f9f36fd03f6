"""Multi-tenancy: Applications act as their tenant's ServiceAccount."""

from __future__ import annotations

from contextlib import contextmanager

import yaml

from .apps import application, configmap, repository
from .support import Operator, condition, get_status, wait_for
from .test_bad_input import ready_false
from .test_reconcile import get, synced_to


def tenant(kube, namespace: str, name: str = "tenant") -> None:
    """A ServiceAccount that may manage ConfigMaps in its own namespace, nothing else."""
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
        }
    )
    kube.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }
    )


def test_tenant_without_rights_gets_forbidden_and_nothing_applied(kube, operator, repo, namespace):
    tenant(kube, namespace)
    sha = repo.commit({"app/a.yaml": configmap("a", v="1")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, serviceAccountName="tenant"))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="tenant's own namespace")

    other = yaml.safe_load(configmap("elsewhere"))
    other["metadata"]["namespace"] = "default"
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{namespace}-x"}}
    repo.commit(
        {
            "app/a.yaml": configmap("a", v="2"),
            "app/other.yaml": yaml.safe_dump(other),
            "app/ns.yaml": yaml.safe_dump(ns),
        },
        "reach outside",
    )
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, "app", "Forbidden"),
        timeout=60,
        what="Forbidden",
    )
    assert "forbidden" in cond["message"]
    assert f"system:serviceaccount:{namespace}:tenant" in cond["message"]
    assert (
        condition(get_status(kube, "Application", namespace, "app"), "Stalled")["status"] == "True"
    )
    assert get(kube, "ConfigMap", namespace, "a")["data"] == {"v": "1"}, "nothing applied"
    assert get(kube, "ConfigMap", "default", "elsewhere") is None
    assert get(kube, "Namespace", "", f"{namespace}-x") is None


@contextmanager
def operator_with(shared: Operator, **env: str | None):
    """Replace the session operator by one with other settings, then restore it."""
    shared.stop()
    custom = Operator(shared.kubeconfig, shared.workdir / "custom", env=env).start()
    try:
        yield custom
    finally:
        custom.stop()
        shared.start()


def test_operator_wide_default_account_and_cross_namespace_ban(kube, operator, repo, namespace):
    tenant(kube, namespace, "gitops-default")
    service_account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}
    repo.commit({"app/a.yaml": configmap("a"), "app2/sa.yaml": yaml.safe_dump(service_account)})
    kube.apply(repository(namespace, repo.url))
    with operator_with(
        operator,
        GITOPS_DEFAULT_SERVICE_ACCOUNT="gitops-default",
        GITOPS_NO_CROSS_NAMESPACE_REFS="true",
    ):
        kube.apply(application(namespace, name="own"))
        app = application(namespace, name="other")
        app["spec"]["sourceRef"] = {"name": "app", "namespace": "default"}
        kube.apply(app)
        cond = wait_for(
            lambda: ready_false(kube, "Application", namespace, "other", "CrossNamespaceRef"),
            timeout=60,
            what="cross-namespace source refused",
        )
        assert "forbids" in cond["message"]
        wait_for(
            lambda: (
                condition(get_status(kube, "Application", namespace, "own")).get("status") == "True"
            ),
            timeout=60,
            what="default account sync",
        )
        assert get(kube, "ConfigMap", namespace, "a") is not None
        kube.apply(application(namespace, name="denied", path="app2"))
        cond = wait_for(
            lambda: ready_false(kube, "Application", namespace, "denied", "Forbidden"),
            timeout=60,
            what="the default account may not create ServiceAccounts",
        )
        assert f"system:serviceaccount:{namespace}:gitops-default" in cond["message"]
