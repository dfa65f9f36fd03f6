"""kopf's session: the kubeconfig's server and credentials, with a bounded pool."""

import asyncio
import logging
from pathlib import Path

import kopf
import kubernetes
import pytest

from gitops_operator.kopf_session import REQUESTS, STREAMS_PER_NAMESPACE, bound_for, login

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: s3cret}
contexts:
- name: x
  context: {cluster: c, user: u, namespace: team}
current-context: x
"""


@pytest.fixture(autouse=True)
def cluster_wide() -> object:
    yield
    bound_for(None)


def login_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[kopf.AiohttpSession, int]:
    """The session kopf is handed, and how many connections its pool may open."""
    (tmp_path / "config").write_text(KUBECONFIG)
    # kopf's default login loads the kubeconfig into the client library's defaults
    config = kubernetes.config.kube_config
    monkeypatch.setattr(config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "config"))
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", None)

    async def run() -> tuple[kopf.AiohttpSession, int]:
        found = await login(logger=logging.getLogger("test"), settings=kopf.OperatorSettings())
        assert found is not None
        connector = found.aiohttp_session.connector
        assert connector is not None
        await found.aiohttp_session.close()
        return found, connector.limit

    return asyncio.run(run())


def test_the_session_speaks_to_the_kubeconfigs_server_as_its_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    found, _ = login_once(tmp_path, monkeypatch)
    assert found.server == "https://127.0.0.1:6443"
    assert found.aiohttp_session.headers["Authorization"] == "Bearer s3cret"


def test_cluster_wide_the_pool_holds_the_requests_and_the_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound_for(None)
    assert login_once(tmp_path, monkeypatch)[1] == REQUESTS + STREAMS_PER_NAMESPACE


def test_each_namespace_watched_adds_room_for_its_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound_for(["a", "b", "c"])
    assert login_once(tmp_path, monkeypatch)[1] == REQUESTS + 3 * STREAMS_PER_NAMESPACE


def test_a_namespace_pattern_leaves_the_pool_unbounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound_for(["team-*"])
    assert login_once(tmp_path, monkeypatch)[1] == 0
