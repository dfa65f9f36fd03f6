"""The real node: a control plane whose one node runs containerd, kubelet and kube-proxy.

Every test here needs a machine that can run containers (root, containerd, runc, the CNI
plugins); elsewhere the whole directory skips with the one-line reason.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import operatorimage
import sampleimage
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer
from integration.support import Operator
from localcluster import LocalCluster, bin_dir, cache_dir, install_crds
from realnode import cannot_run


@pytest.fixture(scope="session")
def node_cluster() -> Iterator[LocalCluster]:
    reason = cannot_run(bin_dir())
    if reason:
        pytest.skip(reason)
    with LocalCluster(nodes=0, real_node=True) as running:
        if running.node is None:
            pytest.skip(running.no_real_node)
        tar, _ = sampleimage.build(cache_dir())
        running.node.import_image(tar)
        yield running


@pytest.fixture(scope="session")
def sample_image(node_cluster: LocalCluster) -> str:
    return sampleimage.ref()


@pytest.fixture(scope="session")
def node_kube(node_cluster: LocalCluster) -> KubeClient:
    return install_crds(node_cluster.client("tests"))


@pytest.fixture(scope="module")
def node_operator(
    node_cluster: LocalCluster, node_kube: KubeClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """The operator as a local process with admin rights; module-scoped, so that it is
    gone before the tests of the operator's pod, where it would reconcile their
    Applications too."""
    proc = Operator(node_cluster.kubeconfig, tmp_path_factory.mktemp("operator")).start()
    yield proc
    proc.stop()


@pytest.fixture
def node_namespace(node_cluster: LocalCluster, node_kube: KubeClient) -> Iterator[str]:
    name = f"e-{uuid.uuid4().hex[:8]}"
    node_kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    node_cluster.wait_service_account(name)  # pods are refused until it exists
    yield name
    node_kube.delete("v1", ObjectRef("", "Namespace", "", name))


@pytest.fixture(scope="session")
def operator_image(node_cluster: LocalCluster) -> dict[str, Any]:
    built: dict[str, Any] = operatorimage.build(bin_dir())
    assert node_cluster.node is not None
    began = time.monotonic()
    node_cluster.node.import_image(Path(built["tar"]))
    built["import_seconds"] = round(time.monotonic() - began, 1)
    print(
        f"bench: operator image {built['compressed_bytes'] / 1e6:.1f} MB compressed,"
        f" built in {built['seconds']}s{' (cached)' if built['cached'] else ''},"
        f" imported in {built['import_seconds']}s"
    )
    return built


@pytest.fixture(scope="session")
def node_git(
    node_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GitHTTPServer]:
    assert node_cluster.node is not None
    root = tmp_path_factory.mktemp("node-git") / "repos"
    root.mkdir()
    with GitHTTPServer(root, host=node_cluster.node.host_ip) as server:
        yield server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A first run builds the operator image (Debian packages, wheels) inside the first
    test's fixtures: give these tests room beyond the suite's default per-test timeout."""
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.timeout(900))
