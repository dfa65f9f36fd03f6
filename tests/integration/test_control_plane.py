"""The local control plane is a real one: Deployments roll out on kwok nodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from localcluster import ClusterInUse, LocalCluster, clusters_dir, reap_orphans
from realnode import running

from .support import ROOT, wait_for


def test_deployment_pods_are_scheduled_ready_and_available(kube: KubeClient, namespace: str):
    kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        }
    )
    ref = ObjectRef("apps", "Deployment", namespace, "web")

    def available() -> bool:
        status = (kube.get("apps/v1", ref) or {}).get("status") or {}
        conds = {c["type"]: c["status"] for c in status.get("conditions") or []}
        return conds.get("Available") == "True" and status.get("readyReplicas") == 3

    wait_for(available, timeout=60, what="Deployment Available with 3 ready replicas")
    pods = kube.list("v1", "Pod", namespace)
    assert len(pods) == 3
    assert all(p["spec"].get("nodeName") for p in pods), "every pod is bound to a kwok node"
    assert all(p["status"]["phase"] == "Running" for p in pods)


def test_crashed_owner_does_not_block_the_next_cluster():
    # A process starts a control plane and dies without stopping it.
    script = (
        "import os;"
        "from localcluster import LocalCluster;"
        "LocalCluster(name='crashed', nodes=0).start();"
        "os.kill(os.getpid(), 9)"
    )
    hack = {**os.environ, "PYTHONPATH": "hack"}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=hack, check=False, timeout=120)
    pidfile = clusters_dir() / "clusters" / "crashed" / "pids" / "kube-apiserver.pid"
    apiserver_pid = int(pidfile.read_text())
    os.kill(apiserver_pid, 0)  # its API server is still running

    assert "crashed" in reap_orphans()

    wait_for(
        lambda: not running(apiserver_pid), timeout=20, what="the orphaned kube-apiserver to exit"
    )
    assert not (clusters_dir() / "clusters" / "crashed").exists()
    with LocalCluster(name="crashed", nodes=0) as again:
        assert again.server().startswith("https://127.0.0.1:")


def test_stop_kills_exactly_what_start_started():
    cluster = LocalCluster(name="stopcheck", nodes=0).start()
    pids_dir = clusters_dir() / "clusters" / "stopcheck" / "pids"
    pids = [int(p.read_text()) for p in pids_dir.glob("*.pid")]
    assert len(pids) == 5  # etcd, apiserver, controller-manager, scheduler, kwok
    cluster.stop()
    assert [pid for pid in pids if running(pid)] == [], "still running after stop()"
    assert not pids_dir.exists()


def _start_up(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Run `hack/localcluster.py up`; return the process and its cluster's name."""
    proc = subprocess.Popen(
        [sys.executable, "hack/localcluster.py", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("control plane "):
            return proc, line.split()[2]
    raise AssertionError(f"`up` exited with {proc.wait()} before its cluster was ready")


def test_two_up_processes_do_not_destroy_each_other_and_sigterm_cleans_up():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "hack")}
    first, first_name = _start_up(env)
    second = None
    try:
        home = clusters_dir() / "clusters" / first_name
        apiserver = int((home / "pids" / "kube-apiserver.pid").read_text())
        second, second_name = _start_up(env)
        assert second_name != first_name
        assert running(apiserver), "the second `up` stopped the first one's API server"
        third = LocalCluster(name=first_name, nodes=0)
        with pytest.raises(ClusterInUse):
            third.start()
        third.stop()  # what a caller's `finally` does: must not touch the owner's cluster
        assert running(apiserver), "a refused start stopped the running cluster"
        assert home.exists()
    finally:
        for proc in (first, second):
            if proc:
                proc.send_signal(signal.SIGTERM)
    for proc, name in ((first, first_name), (second, second_name)):
        assert proc.wait(timeout=60) == 0
        home = clusters_dir() / "clusters" / name
        assert not home.exists(), f"SIGTERM left {home}"
    assert not running(apiserver), "SIGTERM left the API server running"


def test_sigterm_to_the_demo_stops_its_control_plane():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "hack"), "KUBECONFIG": ""}
    env.pop("KUBECONFIG")
    demo = subprocess.Popen(
        [sys.executable, "hack/demo.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert demo.stdout is not None
    kubeconfig = ""
    for line in demo.stdout:
        if "KUBECONFIG=" in line:
            kubeconfig = line.rsplit("KUBECONFIG=", 1)[1].strip()
            break
    assert kubeconfig, "the demo never started its control plane"
    name = Path(kubeconfig).name.removesuffix(".kubeconfig")
    home = clusters_dir() / "clusters" / name
    pids = [int(p.read_text()) for p in (home / "pids").glob("*.pid")]
    assert pids
    demo.send_signal(signal.SIGTERM)
    demo.wait(timeout=60)
    assert not home.exists(), f"SIGTERM to the demo left {home}"
    assert all(not running(p) for p in pids), "SIGTERM to the demo left control-plane processes"
