"""Helpers for integration tests: Git repositories, the operator process, waiting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    """Call ``probe`` until it returns something truthy; fail with ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


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

    def commit(self, files: dict[str, str | None], message: str = "update") -> str:
        """Write (or, with None, delete) files, commit, push to main; return the SHA."""
        for rel, text in files.items():
            path = self.work / rel
            if text is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(
            self.work,
            "-c",
            "user.name=Dev",
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
        )
        git(self.work, "push", "-q", "origin", "HEAD:main")
        return git(self.work, "rev-parse", "HEAD")


class Operator:
    """The operator as a real process: ``gitops-operator run`` against the cluster."""

    def __init__(self, kubeconfig: Path, workdir: Path, env: dict[str, str | None] | None = None):
        """``env`` overrides the tests' settings; None unsets one (the binary's default)."""
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.log = workdir / "operator.log"
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.webhook_port = free_port()
        self.metrics_port = free_port()

    def start(self) -> Operator:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "GITOPS_CACHE_DIR": str(self.workdir / "cache"),
            "GITOPS_ALLOWED_GIT_HOSTS": "127.0.0.1",  # the test Git servers
            "GITOPS_METRICS_PORT": str(self.metrics_port),
            "GITOPS_WEBHOOK_PORT": str(self.webhook_port),
            "GITOPS_WEBHOOK_SECRET": "default/webhook-receivers",
            # The permissive mode: most tests are about what one trusted Application
            # does; the tenancy tests start operators in the default, isolated mode.
            "GITOPS_DEFAULT_SERVICE_ACCOUNT": "",
            "GITOPS_NO_CROSS_NAMESPACE_REFS": "false",
            **self.env,
        }
        env = {name: value for name, value in env.items() if value is not None}
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gitops_operator", "run"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


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


def events_for(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in kube.list("v1", "Event", namespace)
        if (e.get("involved_object") or e.get("involvedObject") or {}).get("name") == name
    ]
