"""Helpers for integration tests: Git repositories, the operator process, waiting."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef
from gitserver import git as git_as
from operatorprocess import OperatorProcess
from waiting import free_port as free_port
from waiting import wait_for as wait_for

ROOT = Path(__file__).resolve().parents[2]


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` as the tests' author; its stripped stdout."""
    return git_as(cwd, *args, name="Dev", email="dev@example.com")


@dataclass
class GitRepo:
    """A bare repository served over HTTP and a working clone to commit from."""

    bare: Path
    work: Path
    url: str

    @classmethod
    def create(cls, root: Path, name: str, url: str) -> GitRepo:
        bare = root / f"{name}.git"
        work = root.parent / "work" / name
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        work.mkdir(parents=True)
        git(work, "init", "-q", "-b", "main")
        git(work, "remote", "add", "origin", str(bare))
        return cls(bare, work, url)

    def commit(self, files: Mapping[str, str | None], message: str = "update") -> str:
        """Write (or, with None, delete) files, commit, push to main; return the SHA."""
        for rel, text in files.items():
            path = self.work / rel
            if text is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", "origin", "HEAD:main")
        return git(self.work, "rev-parse", "HEAD")


class Operator(OperatorProcess):
    """The operator as a real process, reading webhook secrets from the Secret the
    webhook tests write."""

    def __init__(self, kubeconfig: Path, workdir: Path, env: dict[str, str | None] | None = None):
        """``env`` overrides the tests' settings; None unsets one (the binary's default)."""
        tests = {
            "GITOPS_WEBHOOK_SECRET": "default/webhook-receivers",
            # The permissive mode: most tests are about what one trusted Application
            # does; the tenancy tests start operators in the default, isolated mode.
            "GITOPS_DEFAULT_SERVICE_ACCOUNT": "",
            "GITOPS_NO_CROSS_NAMESPACE_REFS": "false",
        }
        super().__init__(kubeconfig, workdir, {**tests, **(env or {})})


def custom(kind: str, namespace: str, name: str) -> ObjectRef:
    return ObjectRef(GROUP, kind, namespace, name)


def get_status(kube: KubeClient, kind: str, namespace: str, name: str) -> dict[str, Any]:
    obj = kube.get(API_VERSION, custom(kind, namespace, name)) or {}
    return dict(obj.get("status") or {})


def condition(status: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def apply_yaml(kube: KubeClient, text: str) -> None:
    for doc in yaml.safe_load_all(text):
        if doc:
            kube.apply(doc)


def events_with(
    kube: KubeClient, namespace: str, name: str, reason: str, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """The Events of ``name`` with ``reason``, once there is one: Events are posted after
    the status write that a test waited for, so they are waited for too."""
    return wait_for(
        lambda: [e for e in events_for(kube, namespace, name) if e.get("reason") == reason],
        timeout=timeout,
        what=f"a {reason} Event for {namespace}/{name}",
    )


def events_for(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in kube.list("v1", "Event", namespace)
        if (e.get("involved_object") or e.get("involvedObject") or {}).get("name") == name
    ]
