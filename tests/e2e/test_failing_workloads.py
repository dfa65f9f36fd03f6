"""Workloads that really fail on the real node are recognised and rolled back.

Each bad commit changes the one Deployment of a good revision: an image that does not
exist (ImagePullBackOff), a container that exits (CrashLoopBackOff), a readiness probe
that never passes. The Deployment carries ``progressDeadlineSeconds``, so the Deployment
controller's own verdict (ProgressDeadlineExceeded) makes it Degraded well before the
Application's ``healthTimeout``; the operator then rolls back, and the good revision's
pods are Running and Ready again.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from gitops_operator.kube import KubeClient
from integration.apps import application, repository
from integration.support import GitRepo, Operator, condition, get_status, wait_for

HEALTH_TIMEOUT = "5m"
PROGRESS_DEADLINE = 15
# A registry on the node's own loopback: the pull is refused at once, no traffic leaves.
MISSING_IMAGE = "localhost/gitops-operator/missing:0"


def web(image: str, *, command: list[str] | None = None, probe_path: str = "/healthz") -> str:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "readinessProbe": {
            "httpGet": {"path": probe_path, "port": 8080},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    }
    if command:
        container["command"] = command
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "progressDeadlineSeconds": PROGRESS_DEADLINE,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
                },
            },
        }
    )


def good_pods_ready(kube: KubeClient, namespace: str, image: str) -> bool:
    pods = [
        p for p in kube.list("v1", "Pod", namespace) if not p["metadata"].get("deletionTimestamp")
    ]
    return bool(pods) and all(
        p["spec"]["containers"][0]["image"] == image
        and p["status"].get("phase") == "Running"
        and condition(p["status"]).get("status") == "True"
        and not p["spec"]["containers"][0].get("command")
        and p["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/healthz"
        for p in pods
    )


BAD = {
    "image-pull": lambda image: web(MISSING_IMAGE),
    "crash-loop": lambda image: web(image, command=["sh", "-c", "echo bye; exit 3"]),
    "never-ready": lambda image: web(image, probe_path="/nowhere"),
}


@pytest.mark.parametrize("failure", sorted(BAD))
def test_a_failing_workload_is_rolled_back_and_the_good_pods_are_ready_again(
    failure: str,
    node_kube: KubeClient,
    node_operator: Operator,
    node_namespace: str,
    repo: GitRepo,
    sample_image: str,
):
    good = repo.commit({"app/web.yaml": web(sample_image)}, "good")
    node_kube.apply(repository(node_namespace, repo.url))
    node_kube.apply(application(node_namespace, healthTimeout=HEALTH_TIMEOUT))

    def healthy() -> dict[str, Any] | None:
        status = get_status(node_kube, "Application", node_namespace, "app")
        return status if status.get("lastGoodRevision") == f"main@sha1:{good}" else None

    wait_for(healthy, timeout=90, what="the good revision to become healthy")
    assert good_pods_ready(node_kube, node_namespace, sample_image)

    pushed = time.monotonic()
    bad = repo.commit({"app/web.yaml": BAD[failure](sample_image)}, failure)

    def rolled_back() -> dict[str, Any] | None:
        status = get_status(node_kube, "Application", node_namespace, "app")
        done = condition(status, "RolledBack").get("status") == "True"
        return status if done and status.get("failedRevision") == f"main@sha1:{bad}" else None

    status = wait_for(rolled_back, timeout=120, what=f"the {failure} revision to be rolled back")
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    message = condition(status, "RolledBack")["message"]
    assert "progress deadline" in message, message
    wait_for(
        lambda: good_pods_ready(node_kube, node_namespace, sample_image),
        timeout=60,
        what="the good revision's pods Running and Ready again",
    )
    seconds = time.monotonic() - pushed
    print(f"bench: {failure}: bad commit pushed to good pods Ready again in {seconds:.1f}s")
    assert seconds < 120
