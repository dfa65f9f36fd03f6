"""The web UI as a real local process (``python -m gitops_operator ui``), tokens of
ServiceAccounts for people to sign in with, and a real Chromium driven by Selenium: for
the browser tests and the UI benchmark alike."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Self

from waiting import free_port, wait_serving

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class UiProcess:
    """One ``gitops-operator ui`` on a free port of 127.0.0.1, with ``kubeconfig`` as its
    own identity (it reviews tokens, impersonates, records Events)."""

    def __init__(self, kubeconfig: Path, workdir: Path, *extra: str) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.extra = extra
        self.port = free_port()
        self.log = workdir / "ui.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "gitops_operator", "ui", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--kubeconfig", str(self.kubeconfig), *self.extra]
        env = {
            **os.environ,
            "GITOPS_CACHE_DIR": str(self.workdir / "cache"),
            "GITOPS_ALLOWED_GIT_HOSTS": "127.0.0.1",  # the local Git servers
        }
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_serving(self.proc, f"{self.url}/healthz", self.log, timeout)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def browser_missing() -> str:
    """Why no browser test can run here (one line), or empty."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            return f"{path} is missing: apt-get install {package} (hack/install-packages.sh)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is missing: pip install -e '.[dev]'"
    return ""


def chromium(width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium (Debian's) driven through its chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces to sandbox with
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver = shutil.which("chromedriver") or CHROMEDRIVER
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def service_account_token(api: Any, namespace: str, name: str, seconds: int = 3600) -> str:
    """A token of ServiceAccount ``namespace/name`` (what ``kubectl create token`` asks
    the TokenRequest API for); ``api``: ``LocalCluster.api``."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    answer = api("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", body)
    return str(answer["status"]["token"])
