"""Kustomize and Helm applications on the real cluster equal what the tools print."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from gitops_operator.config import Settings

from .apps import application, repository
from .support import ROOT, get_status, wait_for
from .test_bad_input import ready_false
from .test_reconcile import synced_to


def commit_examples(repo) -> str:
    shutil.copytree(ROOT / "examples", repo.work / "examples", dirs_exist_ok=True)
    return repo.commit({}, "examples")


def object_ids(text: str) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(text) if d}


def inventory_ids(kube, namespace: str) -> set[tuple[str, str]]:
    entries = get_status(kube, "Application", namespace, "app")["inventory"]["entries"]
    return {(e["id"].split("_")[3], e["id"].split("_")[1]) for e in entries}


def test_kustomize_overlay_is_applied_as_kustomize_builds_it(kube, operator, repo, namespace):
    sha = commit_examples(repo)
    path = "examples/kustomize/overlays/staging"
    kube.apply(repository(namespace, repo.url))
    kube.apply(application(namespace, path=path))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="kustomize app synced")
    built = subprocess.run(
        [Settings().kustomize_binary, "build", str(repo.work / path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert inventory_ids(kube, namespace) == object_ids(built)


def test_helm_chart_is_applied_as_helm_template_renders_it(kube, operator, repo, namespace):
    sha = commit_examples(repo)
    chart = "examples/helm/podinfo"
    kube.apply(repository(namespace, repo.url))
    kube.apply(
        application(
            namespace,
            path=chart,
            targetNamespace=namespace,
            render={"helm": {"valueFiles": ["values-production.yaml"]}},
        )
    )
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=90, what="helm app synced")
    rendered = subprocess.run(
        [
            Settings().helm_binary,
            "template",
            "app",
            str(repo.work / chart),
            "--namespace",
            namespace,
            "-f",
            str(repo.work / chart / "values-production.yaml"),
            "--skip-tests",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert inventory_ids(kube, namespace) == object_ids(rendered)


def test_value_file_outside_the_repository_is_refused(kube, operator, repo, namespace):
    commit_examples(repo)
    kube.apply(repository(namespace, repo.url))
    kube.apply(
        application(
            namespace,
            path="examples/helm/podinfo",
            render={"helm": {"valueFiles": ["../../../../etc/passwd"]}},
        )
    )
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, "app", "PathOutsideRepository"),
        timeout=60,
        what="PathOutsideRepository",
    )
    assert "root:" not in cond["message"]
    assert get_status(kube, "Application", namespace, "app").get("inventory") is None
