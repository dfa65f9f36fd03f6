"""Pods really run on the real node: a sandbox, a CNI address, probes, logs, exec, and the
``kubernetes`` Service reaching the API server from inside a pod."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.stream import stream

from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef
from integration.support import wait_for
from localcluster import LocalCluster, bin_dir, reap_orphans
from realnode import cannot_run, processes, running

ROOT = Path(__file__).resolve().parents[2]


def _pod(name: str, image: str, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {"name": "main", "image": image, "imagePullPolicy": "Never", **container}
            ]
        },
    }


def test_a_pod_runs_answers_its_probe_and_serves_logs_and_exec(
    node_cluster: LocalCluster, node_kube: KubeClient, node_namespace: str, sample_image: str
):
    assert node_cluster.node is not None
    pod = _pod(
        "web",
        sample_image,
        readinessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
    )
    pod["metadata"]["namespace"] = node_namespace
    node_kube.apply(pod)
    ref = ObjectRef("", "Pod", node_namespace, "web")

    def ready() -> dict[str, Any] | None:
        live = node_kube.get("v1", ref) or {}
        conditions = (live.get("status") or {}).get("conditions") or []
        return (
            live
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
            else None
        )

    live = wait_for(ready, timeout=60, what="the pod to pass its readiness probe")
    status = live["status"]
    assert live["spec"]["nodeName"] == node_cluster.node.name
    # kubelet, not kwok, ran it: a containerd container with an address on the node's bridge
    assert status["containerStatuses"][0]["containerID"].startswith("containerd://")
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network(node_cluster.node.pod_cidr)

    core = client.CoreV1Api(load_api_client(str(node_cluster.kubeconfig)))
    logs = core.read_namespaced_pod_log("web", node_namespace)
    assert "response:200" in logs, "the probe's requests are in the container's log"

    out = stream(
        core.connect_get_namespaced_pod_exec,
        "web",
        node_namespace,
        command=["sh", "-c", "cat /www/healthz; wget -q -O- http://10.0.0.1:443/ 2>&1; true"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert out.startswith("ok"), out
    # Pod traffic has nowhere to go but this machine: the node's namespace routes only its
    # link, its bridge and the Service range (no default route).
    routes = node_cluster.node.run_inside("ip", "-4", "route").stdout
    assert "default" not in routes, routes
    # Plain HTTP to the Service's port: the API server itself answers 400, so the
    # ClusterIP reached it through kube-proxy's rules.
    assert "400" in out, out


def test_a_dead_owners_real_node_is_reaped_with_its_containers_and_network():
    if reason := cannot_run(bin_dir()):
        pytest.skip(reason)
    # A process starts a cluster with a real node and a pod, then dies without stopping.
    script = """
import os, time
from localcluster import LocalCluster
c = LocalCluster(name='orphan-node', nodes=0, real_node=True).start()
assert c.node is not None
c.api('POST', '/api/v1/namespaces/default/pods', {
    'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'p'},
    'spec': {'containers': [{'name': 'p', 'image': 'x', 'imagePullPolicy': 'Never'}]}})
time.sleep(3)  # the sandbox (pause) starts; the container itself cannot
print(c.node.netns, c.node.pid('containerd'), flush=True)
os.kill(os.getpid(), 9)
"""
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": "hack"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert len(run.stdout.split()) == 2, run.stderr[-3000:]
    netns, containerd = run.stdout.split()
    assert netns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    shims = [p for p, cmd in processes() if "containerd-shim" in cmd and "orphan-node" in cmd]
    assert shims, "the pod's sandbox was running"

    assert "orphan-node" in reap_orphans()
    assert (
        netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
    left = [p for p, cmd in processes() if "orphan-node" in cmd]
    assert not left, f"processes of the reaped node: {left}"
    assert not running(int(containerd))
    with open("/proc/self/mountinfo") as mounts:
        assert "orphan-node" not in mounts.read()
