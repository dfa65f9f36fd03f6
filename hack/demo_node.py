"""The demo on the real node: the operator as a pod, an application with real pods.

``helm install`` of deploy/helm with the image hack/operatorimage.py builds; a Git
repository served on the node's link; an Application of the sample image (real pods,
real probes); a push delivered by webhook through the chart's Service; a manual edit
flagged as drift and healed; a commit whose container crashes, rolled back; the
Application's diagram written to an SVG; and the time each step took.

Run by hack/demo.py when the machine can run containers.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import gitserver
import operatorimage
import sampleimage
from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer
from localcluster import HACK, LocalCluster, bin_dir, cache_dir, free_name, install_crds
from waiting import wait_for

ROOT = HACK.parent
NS = "demo"
RELEASE_NS = "gitops-system"
SECRET = "demo-webhook-key"  # noqa: S105 (the demo's own receiver key)


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


wait = functools.partial(wait_for, period=0.25, error=SystemExit)
"""A wait that ends the demo with its one-line reason."""


def app_files(image: str, *, replicas: int, message: str, crash: bool = False) -> dict[str, str]:
    container: dict[str, Any] = {
        "name": "web",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1},
    }
    if crash:
        container["command"] = ["sh", "-c", "echo 'missing configuration'; exit 1"]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 15,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
            },
        },
    }
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web-config"},
        "data": {"message": message},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    return {
        "app/deployment.yaml": yaml.safe_dump(deployment),
        "app/config.yaml": yaml.safe_dump(config),
        "app/service.yaml": yaml.safe_dump(service),
    }


class Story:
    """One run of the demo: the cluster, the Git repository, the timings."""

    def __init__(self, cluster: LocalCluster, work: Path) -> None:
        assert cluster.node is not None
        self.cluster = cluster
        self.node = cluster.node
        self.work = work
        self.kube = cluster.client("demo")
        self.timings: list[tuple[str, float]] = []
        self.clone = work / "clone"
        self.bare = work / "git" / "web.git"

    def timed(self, what: str, began: float) -> float:
        seconds = time.monotonic() - began
        self.timings.append((what, seconds))
        return seconds

    def git(self, *args: str) -> str:
        return gitserver.git(self.clone, *args, name="Demo", email="demo@example.com")

    def commit(self, files: dict[str, str], message: str) -> str:
        for rel, text in files.items():
            (self.clone / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.clone / rel).write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", str(self.bare), "HEAD:main")
        return self.git("rev-parse", "HEAD")

    def status(self) -> dict[str, Any]:
        obj = self.kube.get(API_VERSION, ObjectRef(GROUP, "Application", NS, "web")) or {}
        return dict(obj.get("status") or {})

    def condition(self, kind: str) -> dict[str, Any]:
        return next((c for c in self.status().get("conditions", []) if c["type"] == kind), {})

    def pods(self) -> list[dict[str, Any]]:
        return [
            p for p in self.kube.list("v1", "Pod", NS) if not p["metadata"].get("deletionTimestamp")
        ]

    def pods_ready(self, replicas: int, crash: bool = False) -> bool:
        pods = self.pods()
        return len(pods) == replicas and all(
            any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", [])
            )
            and bool(p["spec"]["containers"][0].get("command")) == crash
            for p in pods
        )

    def show_pods(self) -> None:
        for pod in sorted(self.pods(), key=lambda p: p["metadata"]["name"]):
            status = pod["status"]
            (container,) = status.get("containerStatuses") or [{}]
            print(
                f"  {pod['metadata']['name']:<24} {status.get('phase', ''):<8}"
                f" ip={status.get('podIP', '-'):<12} ready={container.get('ready')}"
                f" restarts={container.get('restartCount', 0)}"
            )

    def applied(self, sha: str) -> bool:
        status = self.status()
        ready = self.condition("Ready").get("status") == "True"
        return ready and status.get("lastAppliedRevision") == f"main@sha1:{sha}"

    def deliver(self, url: str, sha: str) -> str:
        """A signed GitHub push for ``sha``, POSTed to the chart's Service from the node."""
        service = self.kube.get(
            "v1", ObjectRef("", "Service", RELEASE_NS, "gitops-gitops-operator")
        )
        assert service, "the chart's Service"
        body = json.dumps(
            {
                "ref": "refs/heads/main",
                "after": sha,
                "repository": {"clone_url": url, "html_url": url.removesuffix(".git")},
            }
        )
        signature = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        return self.node.run_inside(
            "curl", "-sS", "-w", " HTTP %{http_code}", "-X", "POST",
            "-H", "Content-Type: application/json", "-H", "X-GitHub-Event: push",
            "-H", f"X-Hub-Signature-256: sha256={signature}", "--data-binary", body,
            f"http://{service['spec']['clusterIP']}:9292/hooks/github",
        ).stdout  # fmt: skip

    def run(self) -> None:
        sample_tar, sample = sampleimage.build(cache_dir())
        say("building (or reusing) the operator image: Debian packages, wheels, helm, kustomize")
        began = time.monotonic()
        built = operatorimage.build(bin_dir())
        print(
            f"{built['ref']} {built['digest'][:19]}... {built['compressed_bytes'] / 1e6:.0f} MB"
            f" compressed{' (cached)' if built['cached'] else ''}"
        )
        self.node.import_image(Path(built["tar"]))
        self.node.import_image(sample_tar)
        self.timed("operator image built (or found) and imported", began)

        say("helm install deploy/helm/gitops-operator (the operator as a pod on the real node)")
        install_crds(self.kube)
        for ns in (RELEASE_NS, NS):
            self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "webhook-receivers", "namespace": RELEASE_NS},
                "stringData": {"github": SECRET},
            }
        )
        repository, tag = built["ref"].rsplit(":", 1)
        began = time.monotonic()
        subprocess.run(
            [
                str(bin_dir() / "helm"),
                "--kubeconfig",
                str(self.cluster.kubeconfig),
                "install",
                "gitops",
                str(ROOT / "deploy" / "helm" / "gitops-operator"),
                "--namespace",
                RELEASE_NS,
                "--set",
                f"image.repository={repository}",
                "--set",
                f"image.tag={tag}",
                "--set",
                "image.pullPolicy=Never",
                "--set",
                "webhook.secret=webhook-receivers",
                "--set",
                "operator.allowedGitHosts={10.245.0.0/16}",  # the Git server on the veth
                "--wait",
                "--timeout",
                "3m",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        took = self.timed("helm install to operator pod Ready", began)
        print(f"operator pod Ready {took:.1f}s after helm install")

        say(f"serving a Git repository on the node's link ({self.node.host_ip})")
        self.bare.parent.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        self.clone.mkdir()
        self.git("init", "-q", "-b", "main")
        first = self.commit(
            app_files(sample, replicas=2, message="hello from git"), "web: first version"
        )
        server = GitHTTPServer(self.bare.parent, host=self.node.host_ip).start()
        try:
            self.story(server, sample, first)
        finally:
            server.stop()

    def onboard(self) -> None:
        """The account the Application acts as (the chart's operator.defaultServiceAccount):
        the built-in ``edit`` role, in its namespace only."""
        account = "gitops-reconciler"
        self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": account, "namespace": NS},
            }
        )
        self.kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": account, "namespace": NS},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "edit",
                },
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NS}],
            }
        )

    def story(self, server: GitHTTPServer, sample: str, first: str) -> None:
        url = server.url("web.git")
        say(f"onboarding namespace {NS}: ServiceAccount gitops-reconciler bound to `edit` there")
        self.onboard()
        say("an Application with real pods: GitRepository (polled hourly) and Application")
        self.kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "GitRepository",
                "metadata": {"name": "web", "namespace": NS},
                "spec": {"url": url, "ref": {"branch": "main"}, "interval": "1h"},
            }
        )
        self.kube.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "Application",
                "metadata": {"name": "web", "namespace": NS},
                "spec": {
                    "sourceRef": {"name": "web"},
                    "path": "app",
                    "prune": True,
                    "selfHeal": True,
                    "driftInterval": "5s",
                    "healthTimeout": "2m",
                    "rollback": {"enabled": True},
                },
            }
        )
        began = time.monotonic()
        wait(lambda: self.applied(first) and self.pods_ready(2), 120, "the first revision")
        took = self.timed("first sync to pods Ready", began)
        print(f"Ready with 2 pods {took:.1f}s after the Application was created")
        self.show_pods()

        say(
            "a push: 3 replicas and a new message, delivered by webhook through the chart's Service"
        )
        second = self.commit(
            app_files(sample, replicas=3, message="hello again"), "web: 3 replicas"
        )
        began = time.monotonic()
        answer = self.deliver(url, second)
        print(f"POST /hooks/github -> {answer}")
        wait(lambda: self.applied(second), 60, "the pushed commit")
        took = self.timed("webhook push to commit applied", began)
        print(f"commit {second[:7]} applied {took:.1f}s after the push")
        wait(lambda: self.pods_ready(3), 60, "3 ready pods")
        self.show_pods()

        say("a manual edit (as kubectl edit would): web-config's message changed by hand")
        ref = ObjectRef("", "ConfigMap", NS, "web-config")
        editor = self.cluster.client("kubectl-edit")
        edited = yaml.safe_load(
            app_files(sample, replicas=3, message="edited by hand")["app/config.yaml"]
        )
        edited["metadata"]["namespace"] = NS
        editor.apply(edited)
        began = time.monotonic()
        drift = wait(
            lambda: next(
                (
                    e
                    for e in self.kube.list("v1", "Event", NS)
                    if e.get("reason") in ("Drifted", "DriftCorrected", "DriftDetected")
                ),
                None,
            ),
            60,
            "drift to be flagged",
        )
        print(f"Event {drift.get('reason')}: {drift.get('message')}")
        wait(
            lambda: (
                (self.kube.get("v1", ref) or {}).get("data", {}).get("message") == "hello again"
            ),
            60,
            "drift to be healed",
        )
        took = self.timed("manual edit to drift healed", began)
        print(f"healed: message is 'hello again' again, {took:.1f}s after the edit")

        say("a broken commit: the container exits at start (CrashLoopBackOff)")
        began = time.monotonic()
        bad = self.commit(
            app_files(sample, replicas=3, message="hello again", crash=True), "web: broken"
        )
        print(f"POST /hooks/github -> {self.deliver(url, bad)}")
        wait(
            lambda: (
                self.condition("RolledBack").get("status") == "True"
                and self.status().get("failedRevision") == f"main@sha1:{bad}"
            ),
            120,
            "the rollback",
        )
        print(f"RolledBack: {self.condition('RolledBack').get('message')}")
        wait(lambda: self.pods_ready(3), 90, "the good revision's pods")
        took = self.timed("broken commit to good pods Ready again", began)
        print(f"good pods Ready again {took:.1f}s after the push")
        self.show_pods()

        say("gitops-operator diagram web -o $TMPDIR/gitops-demo-web.svg")
        svg = Path(tempfile.gettempdir()) / "gitops-demo-web.svg"
        subprocess.run(
            [sys.executable, "-m", "gitops_operator", "diagram", "web", "-n", NS,
             "--kubeconfig", str(self.cluster.kubeconfig), "-o", str(svg)],
            check=True,
        )  # fmt: skip

        say("timings")
        for what, seconds in self.timings:
            print(f"  {seconds:6.1f}s  {what}")


def run(keep: bool) -> None:
    """The whole story on a cluster with a real node (the caller checked it can run)."""
    work = Path(tempfile.mkdtemp(prefix="gitops-demo-"))
    cluster = LocalCluster(name=free_name("gitops-demo"), nodes=0, real_node=True)
    try:
        say("starting the control plane and a real node (containerd, kubelet, kube-proxy)")
        cluster.start()
        if cluster.node is None:
            raise SystemExit(f"no real node: {cluster.no_real_node}")
        print(
            f"/readyz ok after {cluster.startup_seconds:.1f}s, node {cluster.node.name} Ready"
            f" {cluster.node.ready_seconds:.1f}s later; KUBECONFIG={cluster.kubeconfig}"
        )
        story = Story(cluster, work)
        story.timings.append(("control plane start to /readyz", cluster.startup_seconds))
        story.timings.append(("real node start to Ready", cluster.node.ready_seconds))
        story.run()
        if keep:
            say(f"left running; KUBECONFIG={cluster.kubeconfig}; Ctrl-C to stop")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
