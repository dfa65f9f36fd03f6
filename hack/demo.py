"""End to end on a local control plane: a commit in Git reaches the cluster.

Where the machine can run containers, the whole story on a real node (hack/demo_node.py):
the operator installed by ``helm install`` as a pod, real pods, a webhook push, drift
healed, a broken commit rolled back, the diagram, the timings. Elsewhere (or with
$KUBECONFIG set, using that cluster) it says why in one line, serves examples/ as a Git
repository over smart HTTP, runs the operator as a local process, shows the Application
reach Ready with its objects on kwok nodes, then pushes a new commit and shows it arrive.

    make demo                 # everything, then stop
    make demo ARGS=--keep     # leave the cluster, Git server and operator running
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

import demo_node
import gitserver
from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer
from localcluster import (
    LocalCluster,
    bin_dir,
    build_binaries,
    free_name,
    install_crds,
    stop_on_termination,
)
from operatorprocess import OperatorProcess
from realnode import cannot_run
from waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
wait = functools.partial(wait_for, period=0.25, error=SystemExit)
"""A wait that ends the demo with its one-line reason."""


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def git(cwd: Path, *args: str) -> str:
    return gitserver.git(cwd, *args, name="Demo", email="demo@example.com")


def status_of(kube: KubeClient, kind: str, name: str) -> dict[str, Any]:
    obj = kube.get(API_VERSION, ObjectRef(GROUP, kind, "default", name)) or {}
    return dict(obj.get("status") or {})


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})


def show(kube: KubeClient) -> None:
    repo = status_of(kube, "GitRepository", "examples")
    app = status_of(kube, "Application", "podinfo")
    rows = [
        ("KIND", "NAME", "REVISION", "READY", "MESSAGE"),
        (
            "GitRepository",
            "examples",
            repo.get("artifact", {}).get("revision", ""),
            ready(repo).get("status", ""),
            ready(repo).get("message", ""),
        ),
        (
            "Application",
            "podinfo",
            app.get("lastAppliedRevision", ""),
            ready(app).get("status", ""),
            ready(app).get("message", ""),
        ),
    ]
    table(rows)
    say("objects the Application owns (status.inventory)")
    objects = [("KIND", "NAMESPACE", "NAME", "STATE")]
    for entry in app.get("inventory", {}).get("entries", []):
        ref = ObjectRef.from_id(entry["id"])
        live = kube.get(entry["v"], ref) or {}
        objects.append((ref.kind, ref.namespace or "-", ref.name, describe(live)))
    table(objects)


def describe(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    if obj.get("kind") == "Deployment":
        return f"{status.get('readyReplicas', 0)}/{obj['spec']['replicas']} ready"
    if obj.get("kind") == "ConfigMap":
        return f"message={obj.get('data', {}).get('message')!r}"
    if obj.get("kind") == "Namespace":
        return str(status.get("phase", ""))
    return "present" if obj else "missing"


def table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def deployment_ready(kube: KubeClient, replicas: int) -> bool:
    dep = kube.get("apps/v1", ObjectRef("apps", "Deployment", "podinfo", "podinfo")) or {}
    status = dep.get("status") or {}
    available = any(
        c["type"] == "Available" and c["status"] == "True" for c in status.get("conditions", [])
    )
    return available and status.get("readyReplicas") == replicas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    args = parser.parse_args()
    stop_on_termination()
    if not os.environ.get("KUBECONFIG"):
        say("building (or reusing) the pinned control-plane and node binaries")
        print(f"binaries ready in {build_binaries():.1f}s")
        reason = cannot_run(bin_dir())
        if reason is None:
            demo_node.run(args.keep)
            return
        print(f"kwok nodes only, the operator as a local process: {reason}")
    work = Path(tempfile.mkdtemp(prefix="gitops-demo-"))
    cluster: LocalCluster | None = None
    operator: OperatorProcess | None = None
    server: GitHTTPServer | None = None
    try:
        kubeconfig = os.environ.get("KUBECONFIG")
        if kubeconfig:
            say(f"using the cluster of KUBECONFIG={kubeconfig}")
        else:
            say(
                "starting the local control plane (etcd, kube-apiserver, controller-manager,"
                " scheduler, kwok)"
            )
            cluster = LocalCluster(name=free_name("gitops-demo"))
            cluster.start()
            kubeconfig = str(cluster.kubeconfig)
            print(f"/readyz ok after {cluster.startup_seconds:.1f}s; KUBECONFIG={kubeconfig}")
        kube = KubeClient(load_api_client(kubeconfig), field_manager="gitops-demo")
        say("installing the CRDs from deploy/crds")
        install_crds(kube)

        say("serving examples/ as a Git repository over smart HTTP (git http-backend)")
        root = work / "git"
        root.mkdir()
        subprocess.run(
            ["git", "init", "-q", "--bare", "-b", "main", str(root / "examples.git")], check=True
        )
        clone = work / "clone"
        shutil.copytree(EXAMPLES, clone)
        git(clone, "init", "-q", "-b", "main")
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", "podinfo: first version")
        git(clone, "push", "-q", str(root / "examples.git"), "HEAD:main")
        server = GitHTTPServer(root).start()
        url = server.url("examples.git")
        print(f"{url} at {git(clone, 'rev-parse', '--short', 'HEAD')}")

        say("starting the operator: gitops-operator run")
        operator = OperatorProcess(Path(kubeconfig), work).start()
        metrics = f"http://127.0.0.1:{operator.metrics_port}/metrics"
        print(f"logs: {operator.log}; metrics: {metrics}")

        say(
            "applying examples/reconciler.yaml (the account the Applications act as),"
            " examples/gitrepository.yaml and examples/application-plain.yaml"
        )
        for grant in yaml.safe_load_all((EXAMPLES / "reconciler.yaml").read_text()):
            kube.apply(grant)
        source = (EXAMPLES / "gitrepository.yaml").read_text().replace("REPO_URL", url)
        kube.apply(yaml.safe_load(source))
        kube.apply(yaml.safe_load((EXAMPLES / "application-plain.yaml").read_text()))
        started = time.monotonic()
        wait(
            lambda: ready(status_of(kube, "Application", "podinfo")).get("status") == "True",
            90,
            "the Application to become Ready",
        )
        wait(lambda: deployment_ready(kube, 2), 90, "the podinfo Deployment to be Available")
        print(
            f"Application Ready and Deployment Available {time.monotonic() - started:.1f}s"
            " after the custom resources were created"
        )
        show(kube)

        say("pushing a new commit: new message, 3 replicas")
        config = clone / "plain" / "config.yaml"
        config.write_text(config.read_text().replace("hello from git", "hello again"))
        deployment = clone / "plain" / "deployment.yaml"
        deployment.write_text(deployment.read_text().replace("replicas: 2", "replicas: 3"))
        git(clone, "commit", "-q", "-am", "podinfo: new message, 3 replicas")
        git(clone, "push", "-q", str(root / "examples.git"), "HEAD:main")
        sha = git(clone, "rev-parse", "HEAD")
        pushed = time.monotonic()
        wait(
            lambda: (
                status_of(kube, "Application", "podinfo").get("lastAppliedRevision")
                == f"main@sha1:{sha}"
            ),
            60,
            "the new commit to be applied",
        )
        applied = time.monotonic() - pushed
        wait(lambda: deployment_ready(kube, 3), 60, "3 ready replicas")
        print(
            f"commit {sha[:7]} applied {applied:.1f}s after the push (GitRepository interval 10s)"
        )
        show(kube)
        if args.keep:
            say(f"left running; KUBECONFIG={kubeconfig}; Ctrl-C to stop")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if operator:
            operator.stop()
        if server:
            server.stop()
        if cluster:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
