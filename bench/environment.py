"""One benchmark environment: a Git server with the repository, a fresh control plane,
the CRDs, and the controllers of one system (ours, or Flux's) running against it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

import audit
import flux
from accounting import cpu_seconds
from gitops_operator.api import API_VERSION, GROUP, VERSION
from gitops_operator.kube import KubeClient, load_api_client
from gitserver import GitHTTPServer
from localcluster import LocalCluster, install_crds
from manifests import make_repository
from operatorprocess import OperatorProcess

OURS, FLUX = "ours", "flux"
NAMESPACE = "bench"
WEBHOOK_SECRET = "webhook-receivers"
KWOK_CONFIG = """\
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - key: service-cluster-ip-range
    value: 10.96.0.0/16
"""
"""The default service range (a /24) holds 254 Services; the MTTP shape needs N."""


@dataclass
class Options:
    concurrency: int = 10
    apply_concurrency: int = 8
    app_interval: str = "60m"
    drift_interval: str = "60m"
    repo_interval: str = "1m"
    health_timeout: str = "5m"
    timeout: float = 1500.0
    keep_logs: Path | None = None
    diagnose: bool = False
    flux_qps: float | None = None
    flux_burst: int | None = None
    operator_env: dict[str, str] = field(default_factory=dict)
    """More GITOPS_* settings for our operator (e.g. GITOPS_DRIFT_WATCHES)."""
    webhook: bool = False
    """Ours: run the push webhook receiver on a free port (``Env.webhook_port``), its
    shared secret read from the Secret ``WEBHOOK_SECRET`` (the scenario creates it)."""


@dataclass
class Env:
    system: str
    label: str
    work: Path
    cluster: LocalCluster
    kube: KubeClient
    api: client.ApiClient
    server: GitHTTPServer
    sha: str
    opts: Options
    procs: dict[str, int] = field(default_factory=dict)
    last_requests: Counter[str] = field(default_factory=Counter)
    last_seconds: Counter[str] = field(default_factory=Counter)
    last_clients: Counter[str] = field(default_factory=Counter)
    """With --diagnose: the audit log's requests by client, verb and resource."""
    webhook_port: int = 0
    audit_log: Path | None = None

    def control_plane(self) -> dict[str, int]:
        pids = self.cluster.workdir / "clusters" / self.cluster.name / "pids"
        found = {}
        for name in ("kube-apiserver", "etcd"):
            with contextlib.suppress(OSError, ValueError):
                found[name] = int((pids / f"{name}.pid").read_text())
        return found

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each controller and of kube-apiserver + etcd."""
        out = {name: cpu_seconds(pid) for name, pid in self.procs.items()}
        out["control-plane"] = sum(cpu_seconds(p) for p in self.control_plane().values())
        return out

    def api_requests(self, metric: str = "apiserver_request_total") -> Counter[str]:
        """kube-apiserver's ``metric`` (a counter, or a histogram's ``_sum``) by verb,
        resource and dry-run, for every client together: the controllers,
        kube-controller-manager, kwok and this process."""
        pki = self.cluster.workdir / "clusters" / self.cluster.name / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        with urllib.request.urlopen(
            f"{self.cluster.server()}/metrics", context=context, timeout=30
        ) as response:
            text = response.read().decode()
        counts: Counter[str] = Counter()
        for line in text.splitlines():
            if not line.startswith(metric + "{"):
                continue
            head, _, value = line.rpartition(" ")
            labels = dict(re.findall(r'(\w+)="([^"]*)"', head))
            if labels.get("verb") == "WATCH":
                continue
            sub = f"/{labels['subresource']}" if labels.get("subresource") else ""
            dry = " (dry-run)" if labels.get("dry_run") else ""
            key = f"{labels.get('verb')} {labels.get('resource')}{sub}{dry}"
            counts[key] += float(value)  # type: ignore[assignment]  # sums of seconds too
        return counts

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Count the API requests made meanwhile (and with --diagnose the apiserver
        time they took); ``print_requests`` prints them."""
        metric = "apiserver_request_duration_seconds_sum"
        count0 = self.api_requests()
        seconds0 = self.api_requests(metric) if self.opts.diagnose else Counter[str]()
        since = audit.offset(self.audit_log) if self.audit_log else 0
        yield
        self.last_requests = self.api_requests() - count0
        if self.opts.diagnose:
            self.last_seconds = self.api_requests(metric) - seconds0
        if self.audit_log:
            time.sleep(1.0)  # the audit backend writes a request after its response
            self.last_clients = audit.count(self.audit_log, since)

    def print_requests(self, per: int, unit: str) -> None:
        requests = self.last_requests
        top_n = 40 if self.opts.diagnose else 12
        top = ", ".join(f"{k} {v / per:.1f}" for k, v in requests.most_common(top_n))
        print(f"    API requests (all clients): {requests.total() / per:.1f} per {unit}: {top}")
        if self.opts.diagnose:
            top = ", ".join(f"{k} {v:.1f}s" for k, v in self.last_seconds.most_common(25))
            print(f"    apiserver time by request (latency sum, all clients): {top}")
        if self.last_clients:
            clients = audit.by_client(self.last_clients)
            top = ", ".join(f"{k} {v / per:.2f}" for k, v in clients.most_common(12))
            print(f"    API requests by client (audit log) per {unit}: {top}")
            top = ", ".join(f"{k} {v / per:.2f}" for k, v in self.last_clients.most_common(40))
            print(f"    API requests by client, verb and resource per {unit}: {top}")

    # -- objects of either system ------------------------------------------------------

    def repository(self) -> dict[str, Any]:
        url = self.server.url("bench.git")
        if self.system == FLUX:
            return flux.git_repository("bench", NAMESPACE, url, self.opts.repo_interval)
        return {
            "apiVersion": API_VERSION,
            "kind": "GitRepository",
            "metadata": {"name": "bench", "namespace": NAMESPACE},
            "spec": {"url": url, "interval": self.opts.repo_interval},
        }

    def application(self, name: str, path: str, target: str, timeout: str) -> dict[str, Any]:
        if self.system == FLUX:
            return flux.kustomization(
                name,
                NAMESPACE,
                source="bench",
                path=path,
                target_namespace=target,
                interval=self.opts.app_interval,
                timeout=timeout,
            )
        return {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "sourceRef": {"name": "bench"},
                "path": path,
                "targetNamespace": target,
                "prune": True,
                "interval": self.opts.app_interval,
                "driftInterval": self.opts.drift_interval,
                "healthTimeout": self.opts.health_timeout,
            },
        }

    @property
    def app_kind(self) -> tuple[str, str, str]:
        if self.system == FLUX:
            return "kustomize.toolkit.fluxcd.io", "v1", "kustomizations"
        return GROUP, VERSION, "applications"

    @property
    def repo_kind(self) -> tuple[str, str, str]:
        if self.system == FLUX:
            return "source.toolkit.fluxcd.io", "v1", "gitrepositories"
        return GROUP, VERSION, "gitrepositories"

    def list(self, kind: tuple[str, str, str]) -> list[dict[str, Any]]:
        group, version, plural = kind
        response: Any = client.CustomObjectsApi(self.api).list_namespaced_custom_object(
            group, version, NAMESPACE, plural, _preload_content=False, _request_timeout=120
        )
        return list(json.loads(response.data)["items"])

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any]:
        group, version, plural = kind
        response: Any = client.CustomObjectsApi(self.api).get_namespaced_custom_object(
            group, version, NAMESPACE, plural, name, _preload_content=False, _request_timeout=30
        )
        return dict(json.loads(response.data))

    def annotate(self, name: str, key: str, value: str) -> None:
        group, version, plural = self.app_kind
        client.CustomObjectsApi(self.api).patch_namespaced_custom_object(
            group,
            version,
            NAMESPACE,
            plural,
            name,
            {"metadata": {"annotations": {key: value}}},
            _request_timeout=30,
        )

    def create_namespace(self, name: str) -> None:
        self.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def operator_variables(env: Env, **extra: str) -> dict[str, str]:
    """The operator's environment in a benchmark: one trusted tenant, like the other tools
    measured (the operator's own identity), the pools of ``env.opts``, then ``extra``;
    ``--operator-env`` overrides them all."""
    return {
        "GITOPS_DEFAULT_SERVICE_ACCOUNT": "",
        "GITOPS_NO_CROSS_NAMESPACE_REFS": "false",
        "GITOPS_METRICS_PORT": "0",
        "GITOPS_WEBHOOK_PORT": "0",
        "GITOPS_CONCURRENCY": str(env.opts.concurrency),
        "GITOPS_APPLY_CONCURRENCY": str(env.opts.apply_concurrency),
        **extra,
        **env.opts.operator_env,
    }


@contextlib.contextmanager
def operator(env: Env) -> Iterator[dict[str, int]]:
    """``python -m gitops_operator run`` against the cluster, until /healthz answers."""
    variables = operator_variables(env)
    if env.opts.webhook:
        variables.pop("GITOPS_WEBHOOK_PORT")  # OperatorProcess's free port
        variables["GITOPS_WEBHOOK_SECRET"] = f"{NAMESPACE}/{WEBHOOK_SECRET}"
    with OperatorProcess(env.cluster.kubeconfig, env.work, variables) as proc:
        proc.wait_live()
        assert proc.proc is not None
        env.webhook_port = proc.webhook_port if env.opts.webhook else 0
        yield {"operator": proc.proc.pid}


def start_cluster(name: str, config: Path, attempts: int = 3) -> LocalCluster:
    """A started LocalCluster. kwokctl picks its ports itself and can lose a race for
    them to another cluster starting on the machine; then stop it and try again."""
    for attempt in range(attempts):
        label = f"{name}-{attempt}" if attempt else name
        cluster = LocalCluster(name=label, nodes=1, kwok_config=config)
        try:
            return cluster.start()
        except (RuntimeError, subprocess.SubprocessError) as exc:
            cluster.stop()
            print(f"    control plane {label} failed to start ({exc!s:.200}); retrying")
            time.sleep(2)
    raise SystemExit(f"control plane {name} did not start in {attempts} attempts")


@contextlib.contextmanager
def environment(system: str, label: str, files: dict[str, str], opts: Options) -> Iterator[Env]:
    """Git repository + server, a fresh control plane, the CRDs, and the controllers."""
    work = Path(tempfile.mkdtemp(prefix=f"scale-{label}-"))
    sha = make_repository(work / "git", files)
    config, audit_log = KWOK_CONFIG, None
    if opts.diagnose:  # who makes which request: the API server's audit log
        patch, audit_log = audit.kwok_patch(work)
        config += patch
    (work / "kwok.yaml").write_text(config)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(GitHTTPServer(work / "git"))
        cluster = start_cluster(f"scale-{label}-{os.getpid()}", work / "kwok.yaml")
        stack.callback(cluster.stop)
        api = load_api_client(str(cluster.kubeconfig))
        kube = KubeClient(api, field_manager="bench")
        env = Env(system, label, work, cluster, kube, api, server, sha, opts)
        env.audit_log = audit_log
        if system == FLUX:
            flux.install_crds(kube)
            procs = stack.enter_context(
                flux.controllers(cluster.kubeconfig, work, opts.flux_qps, opts.flux_burst)
            )
            env.procs = {name: p.pid for name, p in procs.items()}
        else:
            install_crds(kube)
            env.procs = stack.enter_context(operator(env))
        env.create_namespace(NAMESPACE)
        try:
            yield env
        finally:
            if opts.keep_logs:
                opts.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in work.glob("*.log"):
                    shutil.copy(log, opts.keep_logs / f"{label}-{log.name}")
    shutil.rmtree(work, ignore_errors=True)


def create_all(env: Env, objects: list[dict[str, Any]]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(env.kube.apply, objects))
