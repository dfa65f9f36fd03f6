"""spec.destination: an Application deploys to a second control plane through the
kubeconfig in a Secret; that cluster's outage is never a prune or a failed revision."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from localcluster import LocalCluster

from .apps import application, configmap, repository
from .support import condition, events_with, get_status, wait_for
from .test_reconcile import synced_to


@pytest.fixture(scope="module")
def remote() -> Iterator[LocalCluster]:
    with LocalCluster(name=f"remote-{uuid.uuid4().hex[:6]}", nodes=1) as cluster:
        yield cluster


def inline_kubeconfig(cluster: LocalCluster) -> str:
    """The cluster's kubeconfig with its certificate files inlined (a Secret holds data,
    not paths of the operator's filesystem)."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())

    def inline(section: dict, field: str) -> None:
        path = section.pop(field, None)
        if path:
            section[f"{field}-data"] = base64.b64encode(Path(path).read_bytes()).decode()

    for entry in config["clusters"]:
        inline(entry["cluster"], "certificate-authority")
    for entry in config["users"]:
        inline(entry["user"], "client-certificate")
        inline(entry["user"], "client-key")
    return yaml.safe_dump(config)


def kubeconfig_secret(namespace: str, text: str, name: str = "remote") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"value": base64.b64encode(text.encode()).decode()},
    }


def to_remote(namespace: str, **spec) -> dict:
    return application(
        namespace, destination={"kubeConfig": {"secretRef": {"name": "remote"}}}, **spec
    )


def cm(kube: KubeClient, namespace: str, name: str) -> dict | None:
    return kube.get("v1", ObjectRef("", "ConfigMap", namespace, name))


def failed_with(kube: KubeClient, namespace: str, reason: str) -> dict | None:
    ready = condition(get_status(kube, "Application", namespace, "app"))
    return ready if ready.get("status") == "False" and ready.get("reason") == reason else None


def test_an_application_deploys_to_a_remote_cluster_and_waits_out_its_outage(
    kube, operator, repo, namespace, remote
):
    there = remote.client("tests")
    there.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    first = repo.commit(
        {"app/cm.yaml": configmap("settings", color="blue"), "app/keep.yaml": configmap("keep")}
    )
    kube.apply(kubeconfig_secret(namespace, inline_kubeconfig(remote)))
    kube.apply(repository(namespace, repo.url))
    kube.apply(to_remote(namespace))
    wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="synced to the remote")
    assert cm(there, namespace, "settings")["data"] == {"color": "blue"}
    assert cm(kube, namespace, "settings") is None, "nothing is applied to the operator's cluster"
    kept = cm(there, namespace, "keep")["metadata"]["uid"]
    assert get_status(kube, "Application", namespace, "app")["health"] == "Healthy"

    remote.kill_component("kube-apiserver")
    try:
        second = repo.commit({"app/cm.yaml": configmap("settings", color="green")})
        ready = wait_for(
            lambda: failed_with(kube, namespace, "DestinationUnreachable"),
            timeout=90,
            what="DestinationUnreachable while the remote API server is down",
        )
        assert "unreachable" in ready["message"]
        status = get_status(kube, "Application", namespace, "app")
        assert status["lastAppliedRevision"] == f"main@sha1:{first}"
        assert not status.get("failedRevision"), "an outage is not the revision's failure"
        assert len(status["inventory"]["entries"]) == 2
        assert events_with(kube, namespace, "app", "DestinationUnreachable")
    finally:
        remote.restart_component("kube-apiserver")
        remote.wait_ready()
    wait_for(lambda: synced_to(kube, namespace, second), timeout=120, what="converged after")
    assert cm(there, namespace, "settings")["data"] == {"color": "green"}
    assert cm(there, namespace, "keep")["metadata"]["uid"] == kept, "nothing was pruned"


def test_the_applications_account_is_impersonated_on_the_remote_cluster(
    kube, operator, repo, namespace, remote
):
    there = remote.client("tests")
    there.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer"}}
    for cluster in (kube, there):  # read at home, impersonated there; granted nothing there
        cluster.apply({**account, "metadata": {"name": "deployer", "namespace": namespace}})
    repo.commit({"app/cm.yaml": configmap("settings")})
    kube.apply(kubeconfig_secret(namespace, inline_kubeconfig(remote)))
    kube.apply(repository(namespace, repo.url))
    kube.apply(to_remote(namespace, serviceAccountName="deployer"))
    ready = wait_for(
        lambda: failed_with(kube, namespace, "Forbidden"), timeout=60, what="Forbidden there"
    )
    assert f"system:serviceaccount:{namespace}:deployer" in ready["message"]
    assert cm(there, namespace, "settings") is None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda u: u.update(exec={"command": "/bin/sh", "apiVersion": "x"}), "exec"),
        (lambda u: u.update(tokenFile="/var/run/secrets/token"), "tokenFile"),
    ],
    ids=["exec-plugin", "token-file"],
)
def test_a_kubeconfig_that_would_run_or_read_the_operators_files_is_refused(
    kube, operator, repo, namespace, remote, change, words
):
    config = yaml.safe_load(inline_kubeconfig(remote))
    change(config["users"][0]["user"])
    repo.commit({"app/cm.yaml": configmap("settings")})
    kube.apply(kubeconfig_secret(namespace, yaml.safe_dump(config)))
    kube.apply(repository(namespace, repo.url))
    kube.apply(to_remote(namespace))
    ready = wait_for(
        lambda: failed_with(kube, namespace, "InvalidKubeConfig"), timeout=60, what="refused"
    )
    assert words in ready["message"] and "only a server and inline credentials" in ready["message"]
    assert (
        condition(get_status(kube, "Application", namespace, "app"), "Stalled")["status"] == "True"
    )
    assert events_with(kube, namespace, "app", "InvalidKubeConfig")


def test_a_missing_kubeconfig_secret_is_waited_for(kube, operator, repo, namespace, remote):
    there = remote.client("tests")
    there.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    sha = repo.commit({"app/cm.yaml": configmap("settings")})
    kube.apply(repository(namespace, repo.url))
    kube.apply(to_remote(namespace))
    wait_for(lambda: failed_with(kube, namespace, "KubeConfigNotFound"), timeout=60, what="waits")
    kube.apply(kubeconfig_secret(namespace, inline_kubeconfig(remote)))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="synced once it exists")
    assert cm(there, namespace, "settings") is not None
