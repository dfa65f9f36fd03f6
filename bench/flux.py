"""Flux's source-controller and kustomize-controller as local processes, for comparison.

``hack/build-flux.sh`` builds both from the Go module proxy (pinned there) into
``~/.cache/gitops-operator/flux-bin`` with their CRDs; this module installs those CRDs,
starts the controllers against a local control plane with the flags of Flux's MTTP
benchmark (``--concurrent`` 10 and 20, kustomize-controller's temp dir in tmpfs), and
builds the GitRepository and Kustomization objects the scenarios create.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitops_operator.kube import KubeClient
from localcluster import apply_crds, cache_dir, run_build_script
from waiting import free_port, wait_serving

SOURCE_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
SOURCE_CONCURRENCY = 10  # as Flux's MTTP benchmark
KUSTOMIZE_CONCURRENCY = 20


def flux_bin() -> Path:
    return cache_dir() / "flux-bin"


def build_flux() -> float:
    """Run hack/build-flux.sh (a no-op when cached); return the seconds it took."""
    return run_build_script("build-flux.sh")


def versions() -> dict[str, str]:
    return {
        name: (flux_bin() / f".{name}.version").read_text().strip()
        for name in ("source-controller", "kustomize-controller")
    }


def install_crds(kube: KubeClient, timeout: float = 60.0) -> None:
    """Apply every CRD of both controllers and wait until each is Established."""
    apply_crds(kube, sorted(flux_bin().glob("crds/*/*.yaml")), timeout)


@contextlib.contextmanager
def controllers(
    kubeconfig: Path, work: Path, qps: float | None = None, burst: int | None = None
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start source-controller and kustomize-controller; stop them on exit.

    Yields {"source-controller": process, "kustomize-controller": process} once both
    answer /readyz. Logs go to ``work/<name>.log``. ``qps`` and ``burst`` replace the
    controllers' client-side API rate limits (Flux's defaults: 50 and 300)."""
    storage = work / "flux-storage"
    storage.mkdir(parents=True, exist_ok=True)
    shm = Path("/dev/shm")
    tmp = Path(tempfile.mkdtemp(prefix="flux-kc-", dir=shm if shm.is_dir() else None))
    storage_port = free_port()
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "RUNTIME_NAMESPACE": "flux-system",
    }
    common = ["--watch-all-namespaces=true", "--enable-leader-election=false", "--log-level=info"]
    if qps:
        common.append(f"--kube-api-qps={qps:g}")
    if burst:
        common.append(f"--kube-api-burst={burst}")
    specs = {
        "source-controller": [
            *common,
            f"--concurrent={SOURCE_CONCURRENCY}",
            f"--storage-path={storage}",
            f"--storage-addr=127.0.0.1:{storage_port}",
            f"--storage-adv-addr=127.0.0.1:{storage_port}",
        ],
        "kustomize-controller": [*common, f"--concurrent={KUSTOMIZE_CONCURRENCY}"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    health: dict[str, int] = {}
    try:
        for name, args in specs.items():
            health[name] = free_port()
            args += [f"--metrics-addr=127.0.0.1:{free_port()}"]
            args += [f"--health-addr=127.0.0.1:{health[name]}"]
            extra = {"TMPDIR": str(tmp)} if name == "kustomize-controller" else {}
            with (work / f"{name}.log").open("ab") as log:
                procs[name] = subprocess.Popen(
                    [str(flux_bin() / name), *args],
                    env={**env, **extra},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=work,
                )
        for name, port in health.items():
            wait_serving(procs[name], f"http://127.0.0.1:{port}/readyz", work / f"{name}.log")
        yield procs
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def git_repository(name: str, namespace: str, url: str, interval: str) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "ref": {"branch": "main"}, "interval": interval, "timeout": "60s"},
    }


def kustomization(
    name: str,
    namespace: str,
    *,
    source: str,
    path: str,
    target_namespace: str,
    interval: str,
    timeout: str,
) -> dict[str, Any]:
    """A Kustomization as Flux's benchmark has them: prune, wait (health of every object
    before Ready, as our Applications), a retry interval of 2m."""
    return {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": source},
            "path": f"./{path}",
            "interval": interval,
            "retryInterval": "2m",
            "prune": True,
            "wait": True,
            "timeout": timeout,
            "targetNamespace": target_namespace,
        },
    }
