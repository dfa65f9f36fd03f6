"""The operator as a real local process: ``python -m gitops_operator run`` against a
cluster, for the tests and the benchmarks alike."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from waiting import free_port, wait_serving


class OperatorProcess:
    """One operator process with its own cache, log, and free ports for its webhook
    receiver, metrics and liveness endpoints. ``env`` adds to (or overrides) the
    environment it runs with; a None value unsets a variable (the binary's default)."""

    def __init__(
        self, kubeconfig: Path, workdir: Path, env: Mapping[str, str | None] | None = None
    ) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.log = workdir / "operator.log"
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.webhook_port = free_port()
        self.metrics_port = free_port()
        self.liveness_port = free_port()

    def start(self) -> Self:
        given: dict[str, str | None] = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "GITOPS_CACHE_DIR": str(self.workdir / "cache"),
            "GITOPS_ALLOWED_GIT_HOSTS": "127.0.0.1",  # the local Git servers
            "GITOPS_METRICS_PORT": str(self.metrics_port),
            "GITOPS_WEBHOOK_PORT": str(self.webhook_port),
            **self.env,
        }
        env = {name: value for name, value in given.items() if value is not None}
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "gitops_operator", "run"]
        command += ["--liveness-port", str(self.liveness_port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_live(self, timeout: float = 60.0) -> Self:
        """Wait until its /healthz answers (it fails early if the process exits)."""
        assert self.proc is not None, "start() first"
        url = f"http://127.0.0.1:{self.liveness_port}/healthz"
        wait_serving(self.proc, url, self.log, timeout)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` and wait for the exit; kill it after 20 s."""
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
