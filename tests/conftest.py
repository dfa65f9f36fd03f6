"""Shared fixtures. The cluster ones start only when a test asks for them: one real
control plane, one Git server and one operator process for the whole session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer
from integration.support import GitRepo, Operator
from localcluster import LocalCluster, install_crds

MARKERS_BY_DIRECTORY = {
    "integration": "integration",
    "reliability": "integration",
    "e2e": "e2e",
}
"""Every test under ``tests/<directory>`` carries its marker, so ``-m "not integration"``
runs no test that needs the control plane (a ``pytestmark`` in a conftest marks nothing)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).resolve().parent
    for item in items:
        path = Path(str(item.path)).resolve()
        if not path.is_relative_to(tests):
            continue
        marker = MARKERS_BY_DIRECTORY.get(path.relative_to(tests).parts[0])
        if marker is not None:
            item.add_marker(marker)


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster() as running:
        yield running


@pytest.fixture(scope="session")
def kube(cluster: LocalCluster) -> KubeClient:
    return install_crds(cluster.client("tests"))


@pytest.fixture(scope="session")
def git_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("git") / "repos"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def git_server(git_root: Path) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(git_root) as server:
        yield server


@pytest.fixture
def repo(git_root: Path, git_server: GitHTTPServer) -> GitRepo:
    name = f"r-{uuid.uuid4().hex[:8]}"
    return GitRepo.create(git_root, name, git_server.url(f"{name}.git"))


@pytest.fixture(scope="session")
def operator(
    cluster: LocalCluster, kube: KubeClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    proc = Operator(cluster.kubeconfig, tmp_path_factory.mktemp("operator")).start()
    yield proc
    proc.stop()


@pytest.fixture
def namespace(kube: KubeClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kube.delete("v1", ObjectRef("", "Namespace", "", name))
