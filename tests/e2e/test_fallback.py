"""Where the machine cannot run containers, a real node is refused in one line and the
cluster runs on kwok nodes alone: never a hang, never a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

import localcluster
import realnode
from localcluster import LocalCluster


def test_not_root_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(realnode.os, "geteuid", lambda: 1000)
    reason = realnode.cannot_run(tmp_path)
    assert reason and "\n" not in reason and "root" in reason


def test_missing_parts_are_named_in_one_line(tmp_path: Path):
    if realnode.os.geteuid() != 0:
        pytest.skip("the parts are checked only as root")
    reason = realnode.cannot_run(tmp_path)  # an empty bin dir: no kubelet, kube-proxy, pause
    assert reason and "\n" not in reason
    assert all(name in reason for name in ("kubelet", "kube-proxy", "pause"))
    assert "hack/install-packages.sh" in reason


def test_a_cluster_asked_for_a_real_node_falls_back_to_kwok(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(localcluster, "cannot_run", lambda _bin: "no runc on this machine")
    with LocalCluster(nodes=1, real_node=True) as cluster:
        assert cluster.node is None
        assert cluster.no_real_node == "no runc on this machine"
        nodes = cluster.api("GET", "/api/v1/nodes")["items"]
        assert [n["metadata"]["annotations"].get("kwok.x-k8s.io/node") for n in nodes] == ["fake"]
    assert capsys.readouterr().out.strip().endswith("kwok nodes only: no runc on this machine")
