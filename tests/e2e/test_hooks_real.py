"""Hooks run as real Jobs on the real node: containerd runs their pods, and the Job
controller's own verdict on a container's exit code decides the revision.

A good revision runs a PreSync migration that exits 0. The next revision changes the
Deployment and carries a hook whose container exits 1: as PreSync it stops the revision
before anything of it is written; as PostSync it fails the revision after the apply and
the good revision is restored.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from integration.apps import application, repository
from integration.support import GitRepo, Operator, condition, get_status, wait_for

from .test_failing_workloads import web

HOOK = "gitops-operator.dev/hook"


def job(name: str, phase: str, image: str, exit_code: int) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": {HOOK: phase}},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "main",
                                "image": image,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", f"echo {name}; exit {exit_code}"],
                            }
                        ],
                    }
                },
            },
        }
    )


def replicas(kube: KubeClient, namespace: str) -> int:
    deployment = kube.get("apps/v1", ObjectRef("apps", "Deployment", namespace, "web")) or {}
    return int((deployment.get("spec") or {}).get("replicas") or 0)


def job_pods(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    return [
        p
        for p in kube.list("v1", "Pod", namespace)
        if (p["metadata"].get("labels") or {}).get("job-name") == name
    ]


@pytest.mark.parametrize("phase", ["PreSync", "PostSync"])
def test_a_hook_whose_container_fails_fails_the_revision(
    phase: str,
    node_kube: KubeClient,
    node_operator: Operator,
    node_namespace: str,
    repo: GitRepo,
    sample_image: str,
):
    good = repo.commit(
        {
            "app/web.yaml": web(sample_image),
            "app/migrate.yaml": job("migrate", "PreSync", sample_image, 0),
        },
        "good, with a migration",
    )
    node_kube.apply(repository(node_namespace, repo.url))
    node_kube.apply(application(node_namespace, healthTimeout="2m"))

    def good_applied() -> dict[str, Any] | None:
        status = get_status(node_kube, "Application", node_namespace, "app")
        return status if status.get("lastGoodRevision") == f"main@sha1:{good}" else None

    status = wait_for(good_applied, timeout=120, what="the good revision and its migration")
    (pod,) = job_pods(node_kube, node_namespace, "migrate")
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    assert not any("Job" in str(ref) for ref in status.get("inventory") or []), "not inventoried"
    assert replicas(node_kube, node_namespace) == 1

    bad = repo.commit(
        {
            "app/web.yaml": web(sample_image).replace("replicas: 1", "replicas: 2"),
            "app/migrate.yaml": None,
            "app/check.yaml": job("check", phase, sample_image, 1),
        },
        f"two replicas, and a {phase} check that fails",
    )

    def failed() -> dict[str, Any] | None:
        status = get_status(node_kube, "Application", node_namespace, "app")
        return status if status.get("failedRevision") == f"main@sha1:{bad}" else None

    status = wait_for(failed, timeout=120, what=f"the failing {phase} hook to fail the revision")
    (pod,) = job_pods(node_kube, node_namespace, "check")
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    assert status["lastAppliedRevision"] == f"main@sha1:{good}"
    rolled_back = condition(status, "RolledBack").get("status") == "True"
    if phase == "PreSync":
        assert condition(status)["reason"] == "HookFailed"
        assert not rolled_back, "nothing of the revision was written: nothing to roll back"
        assert replicas(node_kube, node_namespace) == 1
    else:
        assert rolled_back
        wait_for(
            lambda: replicas(node_kube, node_namespace) == 1,
            timeout=60,
            what="the good revision's replicas restored",
        )
