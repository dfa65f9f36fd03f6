"""Scale benchmarks on the local control plane: our operator, and Flux side by side.

    .venv/bin/python bench/scale.py --scenario mttp --n 100 500 1000 --flux
    .venv/bin/python bench/scale.py --scenario sync --flux       # 1000 objects, bare loop
    .venv/bin/python bench/scale.py --scenario noop --flux       # no-op reconcile
    .venv/bin/python bench/scale.py --scenario steady            # 100 apps idle, 60 s
    .venv/bin/python bench/scale.py --scenario all --flux --quick

Scenarios (bench/README.md says what each number means):

mttp    Flux's MTTP shape: N Applications (Kustomizations) from one Git repository, each a
        path holding a Deployment scaled to 0, a ServiceAccount, a Service and an Ingress;
        time from the custom resources created to all Ready, and the controllers' peak RSS.
sync    one Application of --objects ConfigMaps: time from created to Ready; and a bare loop
        of the same server-side applies at GITOPS_APPLY_CONCURRENCY (the floor here).
noop    the same Application asked to reconcile (requestedAt annotation) with nothing to
        change: wall time until status.lastHandledReconcileAt, and controller CPU seconds.
steady  N (default 100) Ready Applications, no change: controller CPU and Git requests per
        minute over --duration windows.

Every run starts its own control plane (named scale-<scenario>-<system>-<run>-<pid>) and
stops it afterwards; our operator runs as ``python -m gitops_operator run``, Flux's
controllers as the binaries of hack/build-flux.sh. Prints every run, then medians and
ours/Flux ratios. Timings are noisy on a shared 2-core machine: compare medians.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (ROOT / "hack", HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from kubernetes import client  # noqa: E402

import flux  # noqa: E402
from gitops_operator.api import API_VERSION, GROUP, REQUESTED_AT_ANNOTATION, VERSION  # noqa: E402
from gitops_operator.kube import KubeClient, load_api_client  # noqa: E402
from gitserver import GitHTTPServer, git  # noqa: E402
from localcluster import LocalCluster, build_binaries, install_crds  # noqa: E402

OURS, FLUX = "ours", "flux"
NAMESPACE = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
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


# -- process accounting ------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and of its children that it has waited for."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / CLK_TCK


def hwm_bytes(pid: int) -> int:
    """VmHWM: the process's own peak resident set."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _process_table() -> dict[int, int]:
    """pid -> parent pid, for every process."""
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    table[int(entry.name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return table


def _rss(pid: int) -> tuple[int, int]:
    """(resident, resident and not file-backed or shared) bytes, from /proc/<pid>/statm."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            fields = f.read().split()
        return int(fields[1]) * PAGE, (int(fields[1]) - int(fields[2])) * PAGE
    except (OSError, IndexError, ValueError):
        return 0, 0


class MemorySampler:
    """Samples the resident set of each root process plus its descendants (git,
    kustomize, helm) every ``period`` seconds; peak = max(sampled tree, VmHWM).
    ``anon_peaks`` leaves out file-backed pages (a Go binary's text is ~90 MB of file)."""

    def __init__(self, roots: dict[str, int], period: float = 0.25) -> None:
        self.roots = roots
        self.period = period
        self.peaks = dict.fromkeys(roots, 0)
        self.anon_peaks = dict.fromkeys(roots, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def sample(self) -> None:
        parents = _process_table()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        for name, root in self.roots.items():
            total, anon, stack = 0, 0, [root]
            while stack:
                pid = stack.pop()
                resident, private = _rss(pid)
                total += resident
                anon += private
                stack.extend(children.get(pid, ()))
            self.peaks[name] = max(self.peaks[name], total)
            self.anon_peaks[name] = max(self.anon_peaks[name], anon)

    def stop(self) -> dict[str, int]:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.sample()
            for name, pid in self.roots.items():
                self.peaks[name] = max(self.peaks[name], hwm_bytes(pid))
        return self.peaks


# -- repository content -----------------------------------------------------------------


def podinfo(index: int) -> str:
    """One app of Flux's MTTP benchmark (its podinfo manifests, INDEX substituted)."""
    name = f"podinfo-{index}"
    labels = (
        f"    app.kubernetes.io/name: {name}\n"
        '    app.kubernetes.io/version: "6.5.3"\n'
        "    app.kubernetes.io/managed-by: bench\n"
    )
    return f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  labels:
{labels}---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels:
{labels}spec:
  type: ClusterIP
  ports:
    - {{port: 9898, targetPort: http, protocol: TCP, name: http}}
    - {{port: 9999, targetPort: grpc, protocol: TCP, name: grpc}}
  selector:
    app.kubernetes.io/name: {name}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
{labels}spec:
  replicas: 0
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxUnavailable: 1}}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9898"
    spec:
      terminationGracePeriodSeconds: 30
      serviceAccountName: {name}
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.5.3
          imagePullPolicy: IfNotPresent
          command: [./podinfo, --port=9898, --cert-path=/data/cert, --port-metrics=9797,
                    --grpc-port=9999, --grpc-service-name=podinfo, --level=info,
                    --random-delay=false, --random-error=false]
          env:
            - {{name: PODINFO_UI_COLOR, value: "#34577c"}}
          ports:
            - {{name: http, containerPort: 9898, protocol: TCP}}
            - {{name: http-metrics, containerPort: 9797, protocol: TCP}}
            - {{name: grpc, containerPort: 9999, protocol: TCP}}
          livenessProbe:
            exec: {{command: [podcli, check, http, "localhost:9898/healthz"]}}
            initialDelaySeconds: 1
            timeoutSeconds: 5
            failureThreshold: 3
            successThreshold: 1
            periodSeconds: 10
          readinessProbe:
            exec: {{command: [podcli, check, http, "localhost:9898/readyz"]}}
            initialDelaySeconds: 1
            timeoutSeconds: 5
            failureThreshold: 3
            successThreshold: 1
            periodSeconds: 10
          volumeMounts:
            - {{name: data, mountPath: /data}}
          resources:
            requests: {{cpu: 1m, memory: 16Mi}}
      volumes:
        - {{name: data, emptyDir: {{}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  labels:
{labels}spec:
  ingressClassName: nginx
  rules:
    - host: {name}.local
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend:
              service:
                name: {name}
                port: {{number: 9898}}
"""


def mttp_files(n: int) -> dict[str, str]:
    return {f"apps/app-{i}/podinfo.yaml": podinfo(i) for i in range(n)}


def configmap(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{index:04d}", "labels": {"bench": "sync"}},
        "data": {"index": str(index), "color": "#34577c", "payload": "x" * 64},
    }


def big_files(objects: int) -> dict[str, str]:
    return {f"big/cm-{i:04d}.yaml": json.dumps(configmap(i)) + "\n" for i in range(objects)}


def make_repository(root: Path, files: dict[str, str]) -> str:
    """A bare repository root/bench.git whose main holds ``files``; returns the SHA."""
    clone = root.parent / "clone"
    clone.mkdir(parents=True)
    git(clone, "init", "-q", "-b", "main")
    for rel, text in files.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text(text)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", f"{len(files)} files")
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(root / "bench.git")], check=True
    )
    git(clone, "push", "-q", str(root / "bench.git"), "HEAD:main")
    return git(clone, "rev-parse", "HEAD")


# -- environment ---------------------------------------------------------------------------


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
            counts[f"{labels.get('verb')} {labels.get('resource')}{sub}{dry}"] += float(value)
        return counts

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        """Count the API requests made meanwhile (and with --diagnose the apiserver
        time they took); ``print_requests`` prints them."""
        metric = "apiserver_request_duration_seconds_sum"
        count0 = self.api_requests()
        seconds0 = self.api_requests(metric) if self.opts.diagnose else Counter[str]()
        yield
        self.last_requests = self.api_requests() - count0
        if self.opts.diagnose:
            self.last_seconds = self.api_requests(metric) - seconds0

    def print_requests(self, per: int, unit: str) -> None:
        requests = self.last_requests
        top_n = 40 if self.opts.diagnose else 12
        top = ", ".join(f"{k} {v / per:.1f}" for k, v in requests.most_common(top_n))
        print(f"    API requests (all clients): {requests.total() / per:.1f} per {unit}: {top}")
        if self.opts.diagnose:
            top = ", ".join(f"{k} {v:.1f}s" for k, v in self.last_seconds.most_common(25))
            print(f"    apiserver time by request (latency sum, all clients): {top}")

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
        response = client.CustomObjectsApi(self.api).list_namespaced_custom_object(
            group, version, NAMESPACE, plural, _preload_content=False, _request_timeout=120
        )
        return list(json.loads(response.data)["items"])

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any]:
        group, version, plural = kind
        response = client.CustomObjectsApi(self.api).get_namespaced_custom_object(
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


def ready(obj: dict[str, Any], sha: str) -> bool:
    """Ready=True for the current generation at revision ``sha`` (both systems write
    ``status.lastAppliedRevision`` as ``main@sha1:<sha>`` and only after health)."""
    status = obj.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    return bool(
        condition.get("status") == "True"
        and status.get("observedGeneration") == obj["metadata"].get("generation")
        and str(status.get("lastAppliedRevision", "")).endswith(sha)
    )


def repo_ready(obj: dict[str, Any], sha: str) -> bool:
    status = obj.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    revision = str((status.get("artifact") or {}).get("revision", ""))
    return condition.get("status") == "True" and revision.endswith(sha)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def operator(env: Env) -> Iterator[dict[str, int]]:
    """``python -m gitops_operator run`` against the cluster, until /healthz answers."""
    port = free_port()
    variables = {
        **os.environ,
        "KUBECONFIG": str(env.cluster.kubeconfig),
        "GITOPS_CACHE_DIR": str(env.work / "cache"),
        "GITOPS_ALLOWED_GIT_HOSTS": "127.0.0.1",  # the bench Git server
        # one trusted tenant, like the other tools measured: the operator's own identity
        "GITOPS_DEFAULT_SERVICE_ACCOUNT": "",
        "GITOPS_NO_CROSS_NAMESPACE_REFS": "false",
        "GITOPS_METRICS_PORT": "0",
        "GITOPS_WEBHOOK_PORT": "0",
        "GITOPS_CONCURRENCY": str(env.opts.concurrency),
        "GITOPS_APPLY_CONCURRENCY": str(env.opts.apply_concurrency),
    }
    log_path = env.work / "operator.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gitops_operator", "run", "--liveness-port", str(port)],
            env=variables,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=env.work,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"operator exited:\n{log_path.read_text()[-3000:]}")
            url = f"http://127.0.0.1:{port}/healthz"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"operator not live:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield {"operator": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    (work / "kwok.yaml").write_text(KWOK_CONFIG)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(GitHTTPServer(work / "git"))
        cluster = start_cluster(f"scale-{label}-{os.getpid()}", work / "kwok.yaml")
        stack.callback(cluster.stop)
        api = load_api_client(str(cluster.kubeconfig))
        kube = KubeClient(api, field_manager="bench")
        env = Env(system, label, work, cluster, kube, api, server, sha, opts)
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


def wait_until(
    env: Env,
    what: str,
    count: Callable[[], tuple[int, int, Counter[str]]],
    timeout: float,
    period: float,
) -> float | None:
    """Poll ``count`` (done, total, reasons of the others) until done == total; return
    the seconds waited, or None after ``timeout`` (printing what is missing)."""
    started = time.monotonic()
    last_print = started
    while True:
        done, total, reasons = count()
        now = time.monotonic()
        if done == total:
            return now - started
        if now - started > timeout:
            print(f"    TIMEOUT {what}: {done}/{total} after {timeout:.0f}s: {dict(reasons)}")
            return None
        if now - last_print >= 30:
            print(f"    {what}: {done}/{total} after {now - started:.0f}s", flush=True)
            last_print = now
        time.sleep(period)


def _reasons(objs: list[dict[str, Any]], sha: str) -> tuple[int, Counter[str]]:
    done, reasons = 0, Counter[str]()
    for obj in objs:
        if ready(obj, sha):
            done += 1
            continue
        cond = next(
            (
                c
                for c in (obj.get("status") or {}).get("conditions") or []
                if c.get("type") == "Ready"
            ),
            {},
        )
        reasons[f"{cond.get('status', 'none')}/{cond.get('reason', '')}"] += 1
    return done, reasons


def wait_apps(env: Env, names: set[str], timeout: float) -> float | None:
    period = 0.25 if len(names) <= 10 else 1.0

    def count() -> tuple[int, int, Counter[str]]:
        objs = [o for o in env.list(env.app_kind) if o["metadata"]["name"] in names]
        done, reasons = _reasons(objs, env.sha)
        reasons["missing"] = len(names) - len(objs)
        return done, len(names), +reasons

    return wait_until(env, "ready", count, timeout, period)


def wait_repository(env: Env, timeout: float = 120) -> None:
    def count() -> tuple[int, int, Counter[str]]:
        with contextlib.suppress(client.ApiException):
            return int(repo_ready(env.get(env.repo_kind, "bench"), env.sha)), 1, Counter()
        return 0, 1, Counter()

    if wait_until(env, "repository", count, timeout, 0.2) is None:
        raise SystemExit("the GitRepository never became Ready")


# -- results -------------------------------------------------------------------------------


@dataclass
class Results:
    rows: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, measure: str, system: str, value: float | None, unit: str) -> None:
        """Record one run's value; None (a timeout) is counted, not averaged."""
        self.units[measure] = unit
        self.rows.setdefault((measure, system), [])
        if value is None:
            self.failed[(measure, system)] += 1
        else:
            self.rows[(measure, system)].append(value)

    def median(self, measure: str, system: str) -> float | None:
        values = self.rows.get((measure, system))
        return statistics.median(values) if values else None

    def print(self) -> None:
        measures = list(dict.fromkeys(m for m, _ in self.rows))
        print("\n| measure | ours (median) | Flux (median) | ours/Flux | runs |")
        print("| --- | --- | --- | --- | --- |")
        for measure in measures:
            unit = self.units[measure]
            ours, theirs = self.median(measure, OURS), self.median(measure, FLUX)
            ratio = f"{ours / theirs:.2f}" if ours is not None and theirs else ""
            runs = "/".join(str(len(self.rows.get((measure, s), []))) for s in (OURS, FLUX))
            if any(self.failed[(measure, s)] for s in (OURS, FLUX)):
                runs += (
                    " (timed out: "
                    + "/".join(str(self.failed[(measure, s)]) for s in (OURS, FLUX))
                    + ")"
                )
            print(f"| {measure} | {_fmt(ours, unit)} | {_fmt(theirs, unit)} | {ratio} | {runs} |")


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "/min":
        return f"{value:.1f}/min"
    return f"{value:.2f} {unit}"


MIB = 1024 * 1024


# -- scenarios -----------------------------------------------------------------------------


def bench_mttp(systems: list[str], n: int, runs: int, opts: Options, results: Results) -> None:
    files = mttp_files(n)
    for run in range(runs):
        for system in systems:
            with environment(system, f"mttp{n}-{system}-{run}", files, opts) as env:
                names = {f"app-{i}" for i in range(n)}
                objects = [env.repository()] + [
                    env.application(f"app-{i}", f"apps/app-{i}", NAMESPACE, "5m") for i in range(n)
                ]
                with MemorySampler(env.procs) as sampler, env.counting():
                    cpu0 = env.cpu()
                    started = time.monotonic()
                    create_all(env, objects)
                    created = time.monotonic() - started
                    waited = wait_apps(env, names, opts.timeout)
                    cpu1 = env.cpu()
                peaks = sampler.stop()
                anon = sampler.anon_peaks
                total = None if waited is None else created + waited
                peak = sum(peaks.values())
                cpu = sum(cpu1[k] - cpu0[k] for k in env.procs)
                plane = cpu1["control-plane"] - cpu0["control-plane"]
                print(
                    f"  mttp n={n} {system} run {run}: all Ready in "
                    f"{'TIMEOUT' if total is None else f'{total:.1f}s'} (CRs created in "
                    f"{created:.1f}s); peak RSS "
                    + ", ".join(
                        f"{k} {v / MIB:.0f} MiB ({anon[k] / MIB:.0f} not file-backed)"
                        for k, v in peaks.items()
                    )
                    + f"; CPU controllers {cpu:.1f}s, apiserver+etcd {plane:.1f}s",
                    flush=True,
                )
                env.print_requests(n, "app")
                per_app = env.last_requests.total() / n
                results.add(f"mttp N={n}: API requests per app (all clients)", system, per_app, "")
                results.add(f"mttp N={n}: created -> all Ready", system, total, "s")
                results.add(f"mttp N={n}: peak RSS, all controllers", system, peak / MIB, "MiB")
                results.add(
                    f"mttp N={n}: peak RSS not file-backed, all controllers",
                    system,
                    sum(anon.values()) / MIB,
                    "MiB",
                )
                if system == FLUX:
                    kc = peaks["kustomize-controller"] / MIB
                    results.add(f"mttp N={n}: peak RSS, kustomize-controller", system, kc, "MiB")
                results.add(f"mttp N={n}: controller CPU", system, cpu, "s")
                results.add(f"mttp N={n}: apiserver+etcd CPU", system, plane, "s")


def bare_loop(env: Env, objects: list[dict[str, Any]], concurrency: int, plan: bool) -> float:
    """The same server-side applies from this process at ``concurrency``; with ``plan``,
    first a dry-run apply of every object: the same SSA requests our sync sends
    (validation before mutation), without anything else it does."""

    def dry_run(obj: dict[str, Any]) -> None:
        env.kube.apply(obj, dry_run=True)

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        if plan:
            list(pool.map(dry_run, objects))
        list(pool.map(env.kube.apply, objects))
    return time.monotonic() - started


def bench_big(
    systems: list[str],
    objects: int,
    sync_runs: int,
    noop_runs: int,
    opts: Options,
    results: Results,
) -> None:
    """Scenario sync (b) then noop (c), in one control plane per system."""
    files = big_files(objects)
    for system in systems:
        with environment(system, f"big{objects}-{system}", files, opts) as env:
            create_all(env, [env.repository()])
            wait_repository(env)
            name = ""
            for run in range(max(sync_runs, 1)):
                if system == OURS and sync_runs:
                    for plan in (False, True):
                        ns = f"bare-{int(plan)}-{run}"
                        env.create_namespace(ns)
                        body = [
                            {**cm, "metadata": {**cm["metadata"], "namespace": ns}}
                            for cm in map(configmap, range(objects))
                        ]
                        seconds = bare_loop(env, body, opts.apply_concurrency, plan)
                        measure = "dry-run+apply" if plan else "apply"
                        print(
                            f"  bare loop, {objects} {measure} at {opts.apply_concurrency}: "
                            f"{seconds:.2f}s",
                            flush=True,
                        )
                        results.add(
                            f"sync {objects} objects: bare loop, dry-run then apply"
                            if plan
                            else f"sync {objects} objects: bare loop, apply only",
                            OURS,
                            seconds,
                            "s",
                        )
                name, target = f"big-{run}", f"big-{run}"
                env.create_namespace(target)
                with env.counting():
                    cpu0 = env.cpu()
                    started = time.monotonic()
                    create_all(env, [env.application(name, "big", target, "10m")])
                    waited = wait_apps(env, {name}, opts.timeout)
                    cpu1 = env.cpu()
                total = None if waited is None else time.monotonic() - started
                cpu = sum(cpu1[k] - cpu0[k] for k in env.procs)
                print(
                    f"  sync {objects} objects {system} run {run}: Ready in "
                    f"{'TIMEOUT' if total is None else f'{total:.2f}s'}; controller CPU "
                    f"{cpu:.1f}s, apiserver+etcd "
                    f"{cpu1['control-plane'] - cpu0['control-plane']:.1f}s",
                    flush=True,
                )
                env.print_requests(objects, "object")
                if sync_runs:
                    results.add(f"sync {objects} objects: created -> Ready", system, total, "s")
                    results.add(f"sync {objects} objects: controller CPU", system, cpu, "s")
                if total is None:
                    return
            time.sleep(5)  # let the last sync's events and status writes drain
            for run in range(noop_runs):
                with env.counting():
                    wall, cpu, plane = noop_once(env, name, run)
                print(
                    f"  no-op reconcile of {objects} objects {system} run {run}: {wall:.2f}s, "
                    f"controller CPU {cpu:.2f}s, apiserver+etcd {plane:.2f}s",
                    flush=True,
                )
                env.print_requests(objects, "object")
                results.add(f"no-op reconcile {objects} objects: wall", system, wall, "s")
                results.add(f"no-op reconcile {objects} objects: controller CPU", system, cpu, "s")
                results.add(
                    f"no-op reconcile {objects} objects: apiserver+etcd CPU", system, plane, "s"
                )
                time.sleep(3)


def noop_once(env: Env, name: str, run: int) -> tuple[float, float, float]:
    key = flux.REQUESTED_AT if env.system == FLUX else REQUESTED_AT_ANNOTATION
    value = f"{datetime.now(UTC).isoformat()}-{run}"
    cpu0 = env.cpu()
    started = time.monotonic()
    env.annotate(name, key, value)
    deadline = started + env.opts.timeout
    while True:
        obj = env.get(env.app_kind, name)
        status = obj.get("status") or {}
        if status.get("lastHandledReconcileAt") == value and ready(obj, env.sha):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"no-op reconcile not handled after {env.opts.timeout}s")
        time.sleep(0.1 if time.monotonic() - started < 10 else 0.5)
    wall = time.monotonic() - started
    cpu1 = env.cpu()
    cpu = sum(cpu1[k] - cpu0[k] for k in env.procs)
    return wall, cpu, cpu1["control-plane"] - cpu0["control-plane"]


def bench_steady(n: int, duration: float, windows: int, opts: Options, results: Results) -> None:
    """Scenario steady (d): our operator only (Flux idles on its intervals)."""
    with environment(OURS, f"steady{n}-{OURS}", mttp_files(n), opts) as env:
        names = {f"app-{i}" for i in range(n)}
        create_all(
            env,
            [env.repository()]
            + [env.application(f"app-{i}", f"apps/app-{i}", NAMESPACE, "5m") for i in range(n)],
        )
        if wait_apps(env, names, opts.timeout) is None:
            return
        settle = 30.0
        print(f"  {n} Applications Ready; settling {settle:.0f}s", flush=True)
        time.sleep(settle)
        label = f"steady N={n} (interval {opts.app_interval}, drift {opts.drift_interval})"
        for window in range(windows):
            with env.counting():
                cpu0, git0 = env.cpu(), Counter(env.server.requests)
                started = time.monotonic()
                time.sleep(duration)
                elapsed = time.monotonic() - started
                cpu1, git1 = env.cpu(), Counter(env.server.requests)
            cpu = sum(cpu1[k] - cpu0[k] for k in env.procs)
            plane = cpu1["control-plane"] - cpu0["control-plane"]
            per_minute = {k: round((git1[k] - git0[k]) * 60 / elapsed, 1) for k in git1}
            print(
                f"  steady window {window}: operator CPU {cpu:.2f}s in {elapsed:.0f}s "
                f"= {100 * cpu / elapsed:.2f} % of one core; apiserver+etcd "
                f"{100 * plane / elapsed:.2f} %; git requests/min {per_minute}",
                flush=True,
            )
            env.print_requests(n, f"app in {elapsed:.0f}s")
            results.add(f"{label}: operator CPU", OURS, 100 * cpu / elapsed, "%")
            results.add(f"{label}: apiserver+etcd CPU", OURS, 100 * plane / elapsed, "%")
            for kind in ("advertise", "ls-refs", "fetch"):
                results.add(
                    f"{label}: git {kind} requests", OURS, per_minute.get(kind, 0.0), "/min"
                )


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        nargs="+",
        choices=["mttp", "sync", "noop", "steady", "all"],
        default=["all"],
        help="one or more; sync and noop together share one control plane per system",
    )
    parser.add_argument("--n", type=int, nargs="+", help="mttp: 100 500 1000; steady alone: 100")
    parser.add_argument("--objects", type=int, help="sync/noop: objects in the one app (1000)")
    parser.add_argument("--runs", type=int, help="repetitions of mttp and sync (3)")
    parser.add_argument("--noop-runs", type=int, default=5)
    parser.add_argument("--flux", action="store_true", help="also run Flux; print ratios")
    parser.add_argument("--no-ours", action="store_true", help="only Flux (with --flux)")
    parser.add_argument("--quick", action="store_true", help="N=100 (and 100 objects), 1 run")
    parser.add_argument("--concurrency", type=int, default=10, help="GITOPS_CONCURRENCY")
    parser.add_argument("--apply-concurrency", type=int, default=8, help="GITOPS_APPLY_CONCURRENCY")
    parser.add_argument(
        "--app-interval", help="Application/Kustomization interval (60m; steady: 5m)"
    )
    parser.add_argument("--drift-interval", help="Application driftInterval (60m; steady: 1m)")
    parser.add_argument("--repo-interval", default="1m", help="GitRepository interval")
    parser.add_argument("--duration", type=float, default=60.0, help="steady: window seconds")
    parser.add_argument("--windows", type=int, default=3, help="steady: windows")
    parser.add_argument("--timeout", type=float, default=1500.0, help="per wait, seconds")
    parser.add_argument(
        "--flux-qps", type=float, help="Flux's --kube-api-qps (default: Flux's own, 50)"
    )
    parser.add_argument(
        "--flux-burst", type=int, help="Flux's --kube-api-burst (default: Flux's own, 300)"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy controller logs here")
    parser.add_argument(
        "--diagnose", action="store_true", help="every API request kind, and its apiserver time"
    )
    args = parser.parse_args()

    opts = Options(
        concurrency=args.concurrency,
        apply_concurrency=args.apply_concurrency,
        app_interval=args.app_interval or "60m",
        drift_interval=args.drift_interval or "60m",
        repo_interval=args.repo_interval,
        timeout=args.timeout,
        keep_logs=args.keep_logs,
        diagnose=args.diagnose,
        flux_qps=args.flux_qps,
        flux_burst=args.flux_burst,
    )
    systems = ([] if args.no_ours else [OURS]) + ([FLUX] if args.flux else [])
    results = Results()
    print(f"control-plane binaries: {build_binaries():.1f}s", flush=True)
    if FLUX in systems:
        print(f"flux binaries: {flux.build_flux():.1f}s {flux.versions()}", flush=True)
    print(
        f"ours: GITOPS_CONCURRENCY={opts.concurrency} GITOPS_APPLY_CONCURRENCY="
        f"{opts.apply_concurrency}; Flux: source-controller --concurrent="
        f"{flux.SOURCE_CONCURRENCY}, kustomize-controller --concurrent="
        f"{flux.KUSTOMIZE_CONCURRENCY}, --kube-api-qps={opts.flux_qps or 'default'} "
        f"--kube-api-burst={opts.flux_burst or 'default'}",
        flush=True,
    )
    scenarios = [
        name
        for name in ("mttp", "sync", "noop", "steady")
        if name in args.scenario or "all" in args.scenario
    ]
    objects = args.objects or (100 if args.quick else 1000)
    started = time.monotonic()
    for scenario in scenarios:
        began = time.monotonic()
        print(f"\n== {scenario}", flush=True)
        if scenario == "mttp":
            for n in args.n or ([100] if args.quick else [100, 500, 1000]):
                runs = args.runs or (1 if args.quick else 3)
                bench_mttp(systems, n, runs, opts, results)
        elif scenario == "sync":
            runs = args.runs or (1 if args.quick else 3)
            noop = args.noop_runs if "noop" in scenarios else 0
            bench_big(systems, objects, runs, noop, opts, results)
        elif scenario == "noop" and "sync" not in scenarios:
            bench_big(systems, objects, 0, args.noop_runs, opts, results)
        elif scenario == "steady" and OURS in systems:
            steady = Options(**{**opts.__dict__})
            steady.app_interval = args.app_interval or "5m"  # the product defaults
            steady.drift_interval = args.drift_interval or "1m"
            for n in args.n if args.n and scenarios == ["steady"] else [100]:
                bench_steady(n, args.duration, args.windows, steady, results)
        print(f"== {scenario} took {time.monotonic() - began:.0f}s", flush=True)
    results.print()
    print(f"\ntotal {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
