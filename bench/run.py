"""Benchmarks that print numbers: control-plane start times, commit-to-applied latency.

    make bench                      # defaults below
    make bench ARGS="--runs 9"

Prints medians (and p95 where it matters); the machines are noisy, so compare ratios.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import hmac
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer, git
from localcluster import LocalCluster, build_binaries, install_crds
from operatorprocess import OperatorProcess
from waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, values: list[float]) -> None:
    print(
        f"{name:<44} median {statistics.median(values):6.2f}s  p95 {percentile(values, 0.95):6.2f}s"
        f"  min {min(values):6.2f}s  max {max(values):6.2f}s  (n={len(values)})",
        flush=True,
    )


def bench_control_plane(runs: int) -> None:
    cold, warm = [], []
    for i in range(runs):
        cluster = LocalCluster(name=f"bench-cp-{i}", nodes=0).start()
        cold.append(cluster.startup_seconds)
        cluster.pause()
        warm.append(cluster.resume())
        cluster.stop()
    report("control plane cold start (create -> /readyz)", cold)
    report("control plane warm start (restart -> /readyz)", warm)


def ten_objects(generation: int) -> dict[str, str]:
    files = {}
    for i in range(5):
        files[f"app/cm-{i}.yaml"] = (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\n"
            f"data: {{generation: '{generation}'}}\n"
        )
        files[f"app/sa-{i}.yaml"] = (
            f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-{i}\n"
            f"  labels: {{generation: '{generation}'}}\n"
        )
    return files


def bench_commit_to_applied(runs: int, interval: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-"))
    with LocalCluster(name="bench-sync", nodes=1) as cluster:
        kube = cluster.client("bench")
        install_crds(kube)
        root = work / "git"
        root.mkdir()
        subprocess.run(
            ["git", "init", "-q", "--bare", "-b", "main", str(root / "b.git")], check=True
        )
        clone = work / "clone"
        clone.mkdir()
        git(clone, "init", "-q", "-b", "main")

        def commit(generation: int) -> str:
            for rel, text in ten_objects(generation).items():
                (clone / rel).parent.mkdir(parents=True, exist_ok=True)
                (clone / rel).write_text(text)
            git(clone, "add", "-A")
            git(clone, "commit", "-q", "-m", f"generation {generation}")
            git(clone, "push", "-q", str(root / "b.git"), "HEAD:main")
            return git(clone, "rev-parse", "HEAD")

        commit(0)
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "receivers", "namespace": "default"},
                "stringData": {"github": WEBHOOK_SECRET},
            }
        )
        env = {
            # one trusted tenant, like the other tools measured: the operator's own identity
            "GITOPS_DEFAULT_SERVICE_ACCOUNT": "",
            "GITOPS_NO_CROSS_NAMESPACE_REFS": "false",
            "GITOPS_METRICS_PORT": "0",
            "GITOPS_WEBHOOK_SECRET": "default/receivers",
        }
        operator = OperatorProcess(cluster.kubeconfig, work, env)
        with GitHTTPServer(root) as server, operator:
            kube.apply(
                {
                    "apiVersion": API_VERSION,
                    "kind": "GitRepository",
                    "metadata": {"name": "b", "namespace": "default"},
                    "spec": {"url": server.url("b.git"), "interval": interval},
                }
            )
            kube.apply(
                {
                    "apiVersion": API_VERSION,
                    "kind": "Application",
                    "metadata": {"name": "b", "namespace": "default"},
                    "spec": {"sourceRef": {"name": "b"}, "path": "app"},
                }
            )
            ref = ObjectRef(GROUP, "Application", "default", "b")

            def applied() -> str:
                obj = kube.get(API_VERSION, ref) or {}
                return str((obj.get("status") or {}).get("lastAppliedRevision", ""))

            def applied_at(sha: str) -> bool:
                return applied().endswith(sha)

            wait_for(applied, 120, "the first commit applied", period=0.05, error=SystemExit)
            polled: list[float] = []
            hooked: list[float] = []
            for generation in range(1, 2 * runs + 1):
                sha = commit(generation)
                pushed = time.monotonic()
                if generation % 2 == 0:
                    github_push(operator.webhook_port, server.url("b.git"), sha)
                wait_for(
                    functools.partial(applied_at, sha),
                    120,
                    f"commit {sha} applied",
                    period=0.05,
                    error=SystemExit,
                )
                (hooked if generation % 2 == 0 else polled).append(time.monotonic() - pushed)
    shutil.rmtree(work, ignore_errors=True)
    report(f"commit -> applied, 10 objects, polling {interval}", polled)
    report("push -> applied, 10 objects, GitHub webhook", hooked)


WEBHOOK_SECRET = "bench-secret"


def github_push(port: int, url: str, sha: str) -> None:
    """Deliver a signed GitHub push event, as GitHub does after ``git push``."""
    body = json.dumps(
        {"ref": "refs/heads/main", "after": sha, "repository": {"clone_url": url}}
    ).encode()
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/github",
        data=body,
        method="POST",
        headers={
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": f"sha256={digest}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["triggered"] == 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--interval", default="5s", help="GitRepository polling interval")
    args = parser.parse_args()
    print(f"binaries: {build_binaries():.1f}s (0 when cached; the first build is printed above)")
    bench_control_plane(args.runs)
    bench_commit_to_applied(args.runs, args.interval)


if __name__ == "__main__":
    main()
