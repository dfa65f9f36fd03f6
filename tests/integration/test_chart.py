"""The Helm chart on the real control plane: `helm install`, roll out, both RBAC scopes.

kwok plays the kubelet, so the operator's Pods become Running and Ready without pulling
an image: the Deployment really reports Available, and the API server admits the Pod
spec (security context, probes, volumes) exactly as a real cluster would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gitops_operator.config import Settings
from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef
from localcluster import LocalCluster

from .support import ROOT, wait_for

pytestmark = pytest.mark.integration

CHART = ROOT / "deploy" / "helm" / "gitops-operator"
RBAC = "rbac.authorization.k8s.io"


class Helm:
    """The pinned helm binary against the session cluster, with private HELM_* homes."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.kubeconfig = kubeconfig
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        self.installed: list[tuple[str, str]] = []

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            [Settings().helm_binary, "--kubeconfig", str(self.kubeconfig), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def install(self, release: str, namespace: str, *values: str) -> str:
        """``helm install``; its output (the chart's NOTES)."""
        # --skip-crds: the session fixture `kube` already installed deploy/crds, and the
        # other tests keep using them. Helm never upgrades or deletes CRDs of crds/
        # anyway, so the chart must not become their owner here.
        sets = [arg for value in values for arg in ("--set", value)]
        out = self("install", release, str(CHART), "--namespace", namespace, "--skip-crds", *sets)
        self.installed.append((release, namespace))
        return out

    def uninstall(self, release: str, namespace: str) -> None:
        self("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "120s")
        self.installed.remove((release, namespace))


@pytest.fixture
def helm(cluster: LocalCluster, kube: KubeClient, tmp_path: Path) -> Iterator[Helm]:
    runner = Helm(cluster.kubeconfig, tmp_path / "helm")
    yield runner
    for release, namespace in list(runner.installed):
        runner.uninstall(release, namespace)


@pytest.fixture
def new_namespace(kube: KubeClient) -> Iterator[Callable[[], str]]:
    """Makes fresh namespaces; deletes them (and whatever is left in them) afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"chart-{uuid.uuid4().hex[:8]}"
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        made.append(name)
        return name

    yield make
    for name in made:
        kube.delete("v1", ObjectRef("", "Namespace", "", name))


@pytest.fixture
def authz(cluster: LocalCluster) -> Iterator[client.AuthorizationV1Api]:
    api = load_api_client(str(cluster.kubeconfig))
    yield client.AuthorizationV1Api(api)
    api.close()


def release_name() -> str:
    return f"op-{uuid.uuid4().hex[:6]}"


def fullname(release: str) -> str:
    return f"{release}-gitops-operator"


def deployment(kube: KubeClient, namespace: str, release: str) -> dict[str, Any]:
    ref = ObjectRef("apps", "Deployment", namespace, fullname(release))
    return kube.get("apps/v1", ref) or {}


def wait_available(kube: KubeClient, namespace: str, release: str) -> dict[str, Any]:
    def available() -> dict[str, Any] | None:
        live = deployment(kube, namespace, release)
        conditions = (live.get("status") or {}).get("conditions") or []
        ok = any(c["type"] == "Available" and c["status"] == "True" for c in conditions)
        return live if ok else None

    return wait_for(available, timeout=120, what=f"deployment {fullname(release)} Available")


def pods(kube: KubeClient, namespace: str, release: str) -> list[dict[str, Any]]:
    return [
        pod
        for pod in kube.list("v1", "Pod", namespace)
        if (pod["metadata"].get("labels") or {}).get("app.kubernetes.io/instance") == release
    ]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def can(
    authz: client.AuthorizationV1Api,
    account: tuple[str, str],
    verb: str,
    resource: str,
    *,
    namespace: str = "",
    group: str = "",
    subresource: str = "",
) -> bool:
    """Whether the ServiceAccount (namespace, name) may do this (a SubjectAccessReview)."""
    ns, name = account
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{ns}:{name}",
            groups=[
                "system:serviceaccounts",
                f"system:serviceaccounts:{ns}",
                "system:authenticated",
            ],
            resource_attributes=client.V1ResourceAttributes(
                verb=verb,
                resource=resource,
                group=group,
                namespace=namespace or None,
                subresource=subresource or None,
            ),
        )
    )
    answer = authz.create_subject_access_review(review).status
    assert answer is not None
    return bool(answer.allowed)


def test_default_install_rolls_out_a_locked_down_operator(kube, helm, new_namespace, authz):
    namespace, release = new_namespace(), release_name()
    notes = helm.install(release, namespace)
    assert "act as the ServiceAccount\ngitops-reconciler of their own namespace" in notes
    live = wait_available(kube, namespace, release)
    assert live["spec"]["replicas"] == 1
    assert live["spec"]["strategy"]["type"] == "Recreate"  # never two operators at once

    (pod,) = wait_for(lambda: pods(kube, namespace, release), what="the operator Pod")
    spec = pod["spec"]
    assert spec["serviceAccountName"] == fullname(release)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 65532
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 65532
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}

    assert container["args"][:3] == ["run", "--liveness-port", "8081"]
    assert "--namespace" not in container["args"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "webhook": 9292, "healthz": 8081}
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": "healthz",
        "scheme": "HTTP",
    }
    # ready only while leading: a standby gets no webhook deliveries through the Service
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/metrics",
        "port": "metrics",
        "scheme": "HTTP",
    }

    env = env_of(container)
    assert env["GITOPS_METRICS_PORT"] == "8080"
    assert env["GITOPS_WEBHOOK_PORT"] == "9292"
    assert env["GITOPS_LEADER_ELECT"] == "false"
    assert "GITOPS_WEBHOOK_SECRET" not in env
    # Isolated: every Application acts as a ServiceAccount of its own namespace.
    assert env["GITOPS_DEFAULT_SERVICE_ACCOUNT"] == "gitops-reconciler"
    assert env["GITOPS_NO_CROSS_NAMESPACE_REFS"] == "true"
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/var/cache/gitops-operator"]]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert env["GITOPS_CACHE_DIR"].startswith("/var/cache/gitops-operator/")
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"

    service = kube.get("v1", ObjectRef("", "Service", namespace, fullname(release))) or {}
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "http-metrics": 8080,
        "http-webhook": 9292,
    }

    # Cluster scope: a ClusterRole of its own and nothing more (no cluster-admin): the
    # operator impersonates, and looks up, ServiceAccounts, but applies nothing itself.
    role = kube.get(f"{RBAC}/v1", ObjectRef(RBAC, "ClusterRole", "", fullname(release)))
    assert role is not None
    assert kube.get(f"{RBAC}/v1", ObjectRef(RBAC, "Role", namespace, fullname(release))) is None
    account = (namespace, fullname(release))
    assert can(authz, account, "watch", "applications", group="gitops-operator.dev")
    assert can(authz, account, "impersonate", "serviceaccounts", namespace="default")
    assert can(authz, account, "get", "serviceaccounts", namespace="default")
    assert not can(authz, account, "list", "serviceaccounts", namespace="default")
    assert not can(authz, account, "create", "deployments", group="apps", namespace="default")
    # watch-driven drift: the kinds in use are watched (the drift check impersonates)
    assert env["GITOPS_DRIFT_WATCHES"] == "true"
    assert can(authz, account, "watch", "deployments", group="apps")
    assert not can(authz, account, "create", "clusterrolebindings", group=RBAC)

    helm.uninstall(release, namespace)
    assert kube.get(f"{RBAC}/v1", ObjectRef(RBAC, "ClusterRole", "", fullname(release))) is None
    assert not deployment(kube, namespace, release)


def test_the_permissive_mode_is_one_documented_line_away(kube, helm, new_namespace, authz):
    namespace, release = new_namespace(), release_name()
    # The line of the README's Security section.
    notes = helm.install(
        release,
        namespace,
        "rbac.clusterAdmin=true,operator.defaultServiceAccount=,operator.noCrossNamespaceRefs=false",
    )
    assert "Permissive mode" in notes
    assert "Whoever can create an Application can create anything in the cluster" in notes
    (container,) = deployment(kube, namespace, release)["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    # set and empty (the API server drops an empty value; the container gets NAME=)
    assert "GITOPS_DEFAULT_SERVICE_ACCOUNT" in env
    assert not env["GITOPS_DEFAULT_SERVICE_ACCOUNT"]
    assert env["GITOPS_NO_CROSS_NAMESPACE_REFS"] == "false"
    account = (namespace, fullname(release))
    assert can(authz, account, "create", "deployments", group="apps", namespace="default")
    assert can(authz, account, "create", "clusterrolebindings", group=RBAC)


def test_namespace_scope_gets_a_role_and_watches_only_its_namespace(
    kube, helm, new_namespace, authz
):
    namespace, release = new_namespace(), release_name()
    helm.install(release, namespace, "rbac.scope=namespace", "rbac.clusterAdmin=true")
    live = wait_available(kube, namespace, release)

    (container,) = live["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--namespace") + 1] == namespace

    assert kube.get(f"{RBAC}/v1", ObjectRef(RBAC, "Role", namespace, fullname(release)))
    assert kube.get(f"{RBAC}/v1", ObjectRef(RBAC, "ClusterRole", "", fullname(release))) is None
    bindings = kube.list(f"{RBAC}/v1", "ClusterRoleBinding")
    assert not [b for b in bindings if b["metadata"]["name"].startswith(fullname(release))]

    account = (namespace, fullname(release))
    elsewhere = new_namespace()
    gitops = "gitops-operator.dev"
    assert can(authz, account, "watch", "applications", group=gitops, namespace=namespace)
    assert not can(authz, account, "watch", "applications", group=gitops, namespace=elsewhere)
    assert not can(authz, account, "watch", "applications", group=gitops)  # cluster-wide
    # rbac.clusterAdmin in namespace scope: admin of the release namespace, nothing else.
    assert can(authz, account, "create", "deployments", group="apps", namespace=namespace)
    assert not can(authz, account, "create", "deployments", group="apps", namespace=elsewhere)
    assert not can(authz, account, "impersonate", "serviceaccounts", namespace=elsewhere)

    helm.uninstall(release, namespace)
    assert kube.get(f"{RBAC}/v1", ObjectRef(RBAC, "Role", namespace, fullname(release))) is None


def test_least_privilege_with_two_replicas_and_leader_election(kube, helm, new_namespace, authz):
    namespace, release = new_namespace(), release_name()
    helm.install(release, namespace, "replicaCount=2", "rbac.clusterAdmin=false")
    live = wait_available(kube, namespace, release)
    assert live["status"]["readyReplicas"] == 2

    (container,) = live["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    assert env["GITOPS_LEADER_ELECT"] == "true"
    assert env["GITOPS_LEADER_ELECTION_NAMESPACE"] == namespace
    lease = env["GITOPS_LEADER_ELECTION_NAME"]

    account = (namespace, fullname(release))
    coordination = "coordination.k8s.io"
    assert can(authz, account, "create", "leases", group=coordination, namespace=namespace)
    assert not can(authz, account, "create", "leases", group=coordination, namespace="default")
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:{fullname(release)}",
            resource_attributes=client.V1ResourceAttributes(
                verb="update", resource="leases", group=coordination, namespace=namespace
            ),
        )
    )
    review.spec.resource_attributes.name = lease
    assert authz.create_subject_access_review(review).status.allowed
    review.spec.resource_attributes.name = "someone-elses-lease"
    assert not authz.create_subject_access_review(review).status.allowed

    # Without cluster-admin: its own resources, Secrets (read by name, listed and watched
    # only to notice a change of a postBuild.substituteFrom source), Events, impersonation.
    assert can(authz, account, "patch", "applications", group="gitops-operator.dev")
    assert can(
        authz, account, "patch", "applications", group="gitops-operator.dev", subresource="status"
    )
    # Notifications: Providers and Alerts read from a watch; only their status written.
    for kind in ("providers", "alerts"):
        assert can(authz, account, "watch", kind, group="gitops-operator.dev")
        assert can(authz, account, "patch", kind, group="gitops-operator.dev", subresource="status")
        assert not can(authz, account, "patch", kind, group="gitops-operator.dev")
    assert can(authz, account, "get", "secrets", namespace="default")
    assert can(authz, account, "create", "secrets", namespace="default")
    assert can(authz, account, "watch", "secrets", namespace="default")
    assert not can(authz, account, "update", "configmaps", namespace="default")
    assert not can(authz, account, "delete", "secrets", namespace="default")
    assert can(authz, account, "create", "events", namespace="default")
    assert can(authz, account, "impersonate", "serviceaccounts", namespace="default")
    assert not can(authz, account, "impersonate", "users")
    assert not can(authz, account, "create", "deployments", group="apps", namespace="default")
    assert not can(authz, account, "create", "configmaps", namespace=namespace)


@pytest.mark.timeout(900)
def test_chart_check_passes(cluster):
    if shutil.which("go") is None:
        pytest.skip("go is not installed: chart-check builds kubeconform from the Go module proxy")
    # KUBECONFIG: a missing schema cache is made from the session's control plane instead
    # of starting a second one.
    result = subprocess.run(
        ["bash", str(ROOT / "hack" / "chart-check.sh")],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "chart-check: all checks passed" in result.stdout
