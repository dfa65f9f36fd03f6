"""The operator as a pod on the real node, installed by ``helm install`` of deploy/helm
with the image hack/operatorimage.py builds: locked down, probed, in-cluster credentials
only, and syncing an Application, as the ServiceAccount gitops-reconciler of its namespace
(the chart's default), from a Git server the pod reaches over the node's link; its metrics
and webhook answer through the chart's Service."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.stream import stream

from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer
from integration.apps import application, configmap, repository
from integration.support import GitRepo, condition, get_status, wait_for
from localcluster import HACK, LocalCluster, bin_dir

CHART = HACK.parent / "deploy" / "helm" / "gitops-operator"
RELEASE_NS = "gitops-system"
WEBHOOK_SECRET = "whsec-e2e-5c1a"


def helm(cluster: LocalCluster, *args: str, timeout: float = 240) -> str:
    result = subprocess.run(
        [str(bin_dir() / "helm"), "--kubeconfig", str(cluster.kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def install(
    cluster: LocalCluster,
    kube: KubeClient,
    image: dict[str, Any],
    namespace: str,
    *values: str,
    release: str = "gitops",
) -> float:
    """``helm install --wait`` of the chart with the built image; the seconds it took."""
    repository_, tag = image["ref"].rsplit(":", 1)
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    sets = [f"image.repository={repository_}", f"image.tag={tag}", "image.pullPolicy=Never"]
    # the tests' Git servers listen on the host end of the real node's veth (10.245.N.1)
    sets.append("operator.allowedGitHosts={10.245.0.0/16}")
    sets += list(values)
    began = time.monotonic()
    args = ["install", release, str(CHART), "--namespace", namespace, "--wait", "--timeout", "3m"]
    for value in sets:
        # extraEnv values are strings whatever they look like; the rest are typed
        args += ["--set-string" if ".value=" in value else "--set", value]
    helm(cluster, *args)
    return time.monotonic() - began


@pytest.fixture(scope="module")
def installed(
    node_cluster: LocalCluster, node_kube: KubeClient, operator_image: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    node_kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NS}})
    node_kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "webhook-receivers", "namespace": RELEASE_NS},
            "stringData": {"github": WEBHOOK_SECRET},
        }
    )
    seconds = install(
        node_cluster,
        node_kube,
        operator_image,
        RELEASE_NS,
        "webhook.secret=webhook-receivers",
        "extraEnv[0].name=GITOPS_RETRY_INTERVAL",
        "extraEnv[0].value=5",
    )
    print(f"bench: helm install to operator pod Ready in {seconds:.1f}s")
    yield {"seconds": seconds}
    helm(node_cluster, "uninstall", "gitops", "--namespace", RELEASE_NS, "--wait")


def operator_pods(kube: KubeClient, namespace: str = RELEASE_NS) -> list[dict[str, Any]]:
    return [
        p
        for p in kube.list("v1", "Pod", namespace)
        if p["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "gitops-operator"
        and not p["metadata"].get("deletionTimestamp")
    ]


def exec_in(cluster: LocalCluster, pod: str, *command: str) -> str:
    core = client.CoreV1Api(load_api_client(str(cluster.kubeconfig)))
    return str(
        stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            RELEASE_NS,
            command=list(command),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
    )


def test_the_operator_pod_runs_locked_down_and_passes_its_probes(
    node_cluster: LocalCluster, node_kube: KubeClient, installed: dict[str, Any]
):
    (pod,) = operator_pods(node_kube)
    status = pod["status"]
    assert condition(status).get("status") == "True", "readiness probe (/metrics) passes"
    (container,) = status["containerStatuses"]
    assert container["ready"] and container["restartCount"] == 0, "liveness never failed"
    name = pod["metadata"]["name"]
    inside = exec_in(
        node_cluster,
        name,
        "sh",
        "-c",
        "id -u; id -g; grep -E '^(CapEff|CapPrm|Seccomp):' /proc/1/status;"
        " touch /usr/x 2>&1; ls /var/run/secrets/kubernetes.io/serviceaccount;"
        " env | grep -c KUBECONFIG",
    )
    lines = inside.splitlines()
    assert lines[:2] == ["65532", "65532"], inside
    assert "CapEff:\t0000000000000000" in inside and "CapPrm:\t0000000000000000" in inside
    assert "Seccomp:\t2" in inside, "seccomp filter (RuntimeDefault) is on"
    assert "Read-only file system" in inside
    assert "token" in inside
    assert lines[-1] == "0", "no kubeconfig: the ServiceAccount token is the only credential"


def diagnosis(
    cluster: LocalCluster, kube: KubeClient, namespace: str, release_ns: str = RELEASE_NS
) -> str:
    """What a failed wait needs: both statuses and the end of the operator's log."""
    core = client.CoreV1Api(load_api_client(str(cluster.kubeconfig)))
    logs = "\n".join(
        core.read_namespaced_pod_log(p["metadata"]["name"], release_ns, tail_lines=20)
        for p in operator_pods(kube, release_ns)
    )
    return (
        f"GitRepository: {get_status(kube, 'GitRepository', namespace, 'app')}\n"
        f"Application: {get_status(kube, 'Application', namespace, 'app')}\n{logs}"
    )


def onboard(node_kube: KubeClient, namespace: str) -> None:
    """What the chart's NOTES tell an administrator: gitops-reconciler bound to ``edit``
    in the namespace."""
    account = "gitops-reconciler"
    node_kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": namespace},
        }
    )
    rbac = "rbac.authorization.k8s.io"
    node_kube.apply(
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": account, "namespace": namespace},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        }
    )


def sync_repo(
    node_kube: KubeClient,
    node_git: GitHTTPServer,
    namespace: str,
    interval: str = "1h",
    **spec: Any,
) -> tuple[GitRepo, str]:
    name = f"r-{uuid.uuid4().hex[:8]}"
    repo = GitRepo.create(node_git.root, name, node_git.url(f"{name}.git"))
    first = repo.commit({"app/a.yaml": configmap("a", v="1")}, "first")
    node_kube.apply(repository(namespace, repo.url, interval=interval))
    node_kube.apply(application(namespace, **spec))
    return repo, first


def applied(node_kube: KubeClient, namespace: str, sha: str) -> dict[str, Any] | None:
    status = get_status(node_kube, "Application", namespace, "app")
    if (
        status.get("lastAppliedRevision") == f"main@sha1:{sha}"
        and condition(status).get("status") == "True"
    ):
        return status
    return None


def test_the_operator_pod_syncs_and_a_webhook_through_its_service_applies_a_push(
    node_cluster: LocalCluster,
    node_kube: KubeClient,
    installed: dict[str, Any],
    node_git: GitHTTPServer,
    node_namespace: str,
):
    assert node_cluster.node is not None
    onboard(node_kube, node_namespace)
    repo, first = sync_repo(node_kube, node_git, node_namespace)
    try:
        wait_for(lambda: applied(node_kube, node_namespace, first), 90, "the first sync")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n{diagnosis(node_cluster, node_kube, node_namespace)}"
        ) from None
    live = node_kube.get("v1", ObjectRef("", "ConfigMap", node_namespace, "a")) or {}
    assert live.get("data") == {"v": "1"}

    service = node_kube.get("v1", ObjectRef("", "Service", RELEASE_NS, "gitops-gitops-operator"))
    assert service, "the chart's Service"
    ip = service["spec"]["clusterIP"]
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}

    second = repo.commit({"app/a.yaml": configmap("a", v="2")}, "second")
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": second,
            "repository": {"clone_url": repo.url, "html_url": repo.url.removesuffix(".git")},
        }
    )
    digest = hmac.new(WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    pushed = time.monotonic()
    answer = node_cluster.node.run_inside(
        "curl", "-sS", "-o", "/dev/stdout", "-w", " %{http_code}", "-X", "POST",
        "-H", "Content-Type: application/json",
        "-H", "X-GitHub-Event: push",
        "-H", f"X-Hub-Signature-256: sha256={digest}",
        "--data-binary", body,
        f"http://{ip}:{ports['http-webhook']}/hooks/github",
    ).stdout  # fmt: skip
    assert answer.endswith(" 202"), answer
    wait_for(lambda: applied(node_kube, node_namespace, second), 30, "the pushed commit")
    print(
        f"bench: webhook through the Service to commit applied in {time.monotonic() - pushed:.1f}s"
    )

    metrics = node_cluster.node.run_inside(
        "curl", "-sS", f"http://{ip}:{ports['http-metrics']}/metrics"
    ).stdout
    assert "gitops_" in metrics and node_namespace in metrics, metrics[:500]
