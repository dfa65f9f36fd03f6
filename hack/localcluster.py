"""A real local Kubernetes control plane on 127.0.0.1, shared by the tests and the demo.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler (built from the Go
module proxy by ``hack/build-binaries.sh``) plus kwok, which registers fake nodes and
plays the kubelet so that Pods are scheduled, become Ready and Deployments Available.
kwokctl's binary runtime owns the certificates, flags, start and stop; this module picks
the binaries from the cache, names each cluster after the process that owns it, and
reaps clusters whose owner died, so a crashed run never blocks the next one.

    python hack/localcluster.py up [--real-node]  # start, print the kubeconfig, wait for
                                                  # Ctrl-C or SIGTERM
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.objects import ObjectRef
from realnode import KWOK_NODE_ANNOTATION, SERVICE_IP, RealNode, cannot_run, running
from waiting import wait_for

HACK = Path(__file__).resolve().parent
NEVER_READY_LABEL = "gitops-operator.dev/test-never-ready"
FAIL_LABEL = "gitops-operator.dev/test-fail"
"""A Pod labelled so on a kwok node runs, then fails with exit code 1 (kwok's own stage
completes the pods of Jobs with exit code 0): a Job of such pods fails for real."""
"""Pods with this label (any value) are Running but never Ready: rollouts never finish."""
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def cache_dir() -> Path:
    base = os.environ.get("GITOPS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"), "gitops-operator"
    )
    return Path(base)


def bin_dir() -> Path:
    return cache_dir() / "bin"


def build_binaries() -> float:
    """Run hack/build-binaries.sh (a no-op when everything is cached); return seconds."""
    return run_build_script("build-binaries.sh")


def run_build_script(name: str) -> float:
    """Run the build script hack/``name`` (no-ops when cached); return the seconds taken."""
    start = time.monotonic()
    subprocess.run([str(HACK / name)], check=True)
    return time.monotonic() - start


def clusters_dir() -> Path:
    return Path(tempfile.gettempdir()) / "gitops-operator-clusters"


_instances = itertools.count()


def _default_name() -> str:
    """``gitops-<pid>``, then ``gitops-<pid>-2``...: two clusters of one process (a test
    session's and one a test starts) never share a name."""
    n = next(_instances)
    return f"gitops-{os.getpid()}" + (f"-{n + 1}" if n else "")


class ClusterInUse(RuntimeError):
    """A cluster of that name belongs to another process that is still running."""


def owner_file(name: str) -> Path:
    """Claimed before the cluster is created, so two processes never share a name."""
    return clusters_dir() / "owners" / f"{name}.pid"


def owner_of(name: str) -> int | None:
    """The live process that owns cluster ``name``, or None when nobody does."""
    for path in (owner_file(name), clusters_dir() / "clusters" / name / "owner.pid"):
        try:
            pid = int(path.read_text())
        except (OSError, ValueError):
            continue
        if pid and running(pid):
            return pid
    return None


def free_name(base: str) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first name no live process owns."""
    name, n = base, 1
    while owner_of(name) not in (None, os.getpid()):
        n += 1
        name = f"{base}-{n}"
    return name


def stop_on_termination() -> None:
    """Make SIGTERM and SIGHUP (a closed terminal) unwind like Ctrl-C, so the caller's
    ``finally`` stops what it started."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


@dataclass
class LocalCluster:
    """One control plane. ``start()`` returns once /readyz answers ok."""

    name: str = field(default_factory=lambda: _default_name())
    nodes: int = 2
    kwok_config: Path | None = None
    real_node: bool = False
    """Also run a real node (containerd, kubelet, kube-proxy) when the machine can."""
    startup_seconds: float = 0.0
    node: RealNode | None = None
    no_real_node: str = ""
    """Why a requested real node is not running (one line), else empty."""

    @property
    def workdir(self) -> Path:
        return clusters_dir()

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / f"{self.name}.kubeconfig"

    def _kwokctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KWOK_WORKDIR": str(self.workdir)}
        return subprocess.run(
            [str(bin_dir() / "kwokctl"), "--name", self.name, *args],
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=180,
        )

    def start(self) -> LocalCluster:
        missing = [b for b in (*BINARIES, "kwokctl") if not (bin_dir() / b).exists()]
        if missing:
            raise RuntimeError(f"missing {', '.join(missing)}: run hack/build-binaries.sh")
        self.workdir.mkdir(parents=True, exist_ok=True)
        reap_orphans()
        self._claim()
        if (self.workdir / "clusters" / self.name).exists():
            self._teardown()  # left by a dead owner
        began = time.monotonic()
        args = [
            "create",
            "cluster",
            "--runtime",
            "binary",
            "--kubeconfig",
            str(self.kubeconfig),
            "--wait",
            "120s",
            "--disable-qps-limits",
        ]
        for binary in BINARIES:
            flag = "kwok-controller" if binary == "kwok" else binary
            args += [f"--{flag}-binary", str(bin_dir() / binary)]
        if self.kwok_config:
            args += ["--config", str(self.kwok_config)]
        if self.real_node:
            args += self._prepare_real_node()
        try:
            self._create(args)
            (self.workdir / "clusters" / self.name / "owner.pid").write_text(str(os.getpid()))
            self._configure_kwok()
            self.wait_ready()
            self.startup_seconds = time.monotonic() - began
            self.wait_service_account("default")
            if self.nodes:
                self._kwokctl("scale", "node", "--replicas", str(self.nodes))
            if self.real_node:
                self._start_real_node()
        except BaseException:
            self.stop()  # a failed or interrupted start leaves nothing running
            raise
        return self

    def _create(self, args: list[str]) -> None:
        """``kwokctl create cluster``, once more if the first attempt fails: kwokctl picks
        free ports by probing them, so clusters created at the same moment can collide."""
        for attempt in (1, 2):
            try:
                result = self._kwokctl(*args, check=False)
            except subprocess.TimeoutExpired as exc:
                result = subprocess.CompletedProcess(exc.cmd, 1, "", f"timed out: {exc}")
            if result.returncode == 0:
                return
            if attempt == 1:
                self._stop_control_plane()  # the real node has not started; keep its subnet
        raise RuntimeError(f"kwokctl create cluster failed:\n{result.stderr[-4000:]}")

    def _prepare_real_node(self) -> list[str]:
        """Claim the real node's subnets and return the kwokctl arguments it needs: the
        API server advertised on the node's link (the ``kubernetes`` Service's endpoint),
        named in its certificate with the Service's ClusterIP, and reaching kubelets by
        InternalIP with a client certificate (``kubectl logs`` and ``exec``)."""
        reason = cannot_run(bin_dir())
        if reason:
            self.no_real_node = reason
            print(f"kwok nodes only: {reason}", flush=True)
            return []
        home = self.workdir / "clusters" / self.name
        self.node = RealNode(
            cluster=self.name,
            home=home,
            bin_dir=bin_dir(),
            cache=cache_dir(),
            api_port=0,
            claims=clusters_dir() / "subnets",
        )
        self.node.claim(owner_alive=lambda name: owner_of(name) is not None)
        config = self.workdir / f"{self.name}.node.yaml"
        docs = [
            {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokctlConfiguration",
                "options": {"kubeApiserverCertSANs": [SERVICE_IP, self.node.host_ip]},
            }
        ]
        if self.kwok_config:
            docs += [d for d in yaml.safe_load_all(self.kwok_config.read_text()) if d]
        config.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        pki = home / "pki"
        extra = {
            "advertise-address": self.node.host_ip,
            "kubelet-preferred-address-types": "InternalIP",
            "kubelet-client-certificate": str(pki / "admin.crt"),
            "kubelet-client-key": str(pki / "admin.key"),
        }
        args = ["--config", str(config)]
        for key, value in extra.items():
            args += ["--extra-args", f"kube-apiserver={key}={value}"]
        return args

    def _start_real_node(self) -> None:
        """Start the real node and wait until it is Ready; when it cannot start, say why in
        one line and go on with the kwok nodes alone."""
        node = self.node
        if node is None:
            return
        node.api_port = int(self.server().rsplit(":", 1)[1])
        try:
            node.start()
            self._wait_node_ready(node)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            self.no_real_node = f"the real node did not start: {str(exc).splitlines()[0]}"
            print(f"kwok nodes only: {self.no_real_node}", flush=True)
            node.stop()
            self.node = None

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API request with the admin credentials; the decoded JSON answer."""
        pki = self.workdir / "clusters" / self.name / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        request = urllib.request.Request(
            f"{self.server()}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def wait_service_account(self, namespace: str, timeout: float = 60.0) -> None:
        """Wait for the namespace's ``default`` ServiceAccount: until the controller
        manager has made it, admission refuses every pod there with 403."""
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/default"
        wait_for(
            lambda: self.api("GET", path),
            timeout,
            f"the default ServiceAccount in {namespace}",
            ignore=(OSError, ValueError),
            error=RuntimeError,
        )

    def _wait_node_ready(self, node: RealNode, timeout: float = 90.0) -> None:
        began = time.monotonic()

        def ready() -> bool:
            for component in ("containerd", "kubelet", "kube-proxy"):
                pid = node.pid(component)
                if pid and not running(pid):
                    raise RuntimeError(f"{component} exited:\n{node.log_tail(component)}")
            live = self.api("GET", f"/api/v1/nodes/{node.name}")
            conditions = live.get("status", {}).get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        what = f"node {node.name} Ready"
        wait_for(
            ready, timeout, what, period=0.25, ignore=(OSError, ValueError), error=RuntimeError
        )
        node.ready_seconds += time.monotonic() - began

    def _claim(self) -> None:
        """Own the name, atomically; refuse when a live process owns it already."""
        path = owner_file(self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = owner_of(self.name)
                if owner == os.getpid():
                    return
                if owner is not None:
                    raise ClusterInUse(
                        f"cluster {self.name!r} belongs to running process {owner}:"
                        " stop it or choose another name"
                    ) from None
                path.unlink(missing_ok=True)  # its owner died; take the name over
                continue
            with os.fdopen(fd, "w") as out:
                out.write(str(os.getpid()))
            return

    def _configure_kwok(self) -> None:
        """Restrict kwok to its own nodes (a real node's pods are the kubelet's business)
        and teach it to keep labelled Pods unready: exclude them from kwokctl's own
        pod-ready stage and add a stage that marks them Running but not Ready; and to fail
        Pods labelled ``FAIL_LABEL`` once running, instead of completing them; then
        restart kwok alone (restarting the controller-manager would wait out its lease)."""
        home = self.workdir / "clusters" / self.name
        path = home / "kwok.yaml"
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for doc in docs:
            for component in doc.get("components") or []:
                if component.get("name") == "kwok-controller":
                    args = [a for a in component["args"] if not a.startswith("--manage-all-nodes")]
                    component["args"] = [
                        *args,
                        "--manage-all-nodes=false",
                        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}",
                    ]
        label = f'.metadata.labels["{NEVER_READY_LABEL}"]'
        fail = f'.metadata.labels["{FAIL_LABEL}"]'
        for doc in docs:
            if doc.get("kind") == "Stage" and doc["metadata"]["name"] == "pod-ready":
                doc["spec"]["selector"]["matchExpressions"].append(
                    {"jq": {"key": label, "operator": "DoesNotExist"}}
                )
            if doc.get("kind") == "Stage" and doc["metadata"]["name"] == "pod-complete":
                doc["spec"]["selector"]["matchExpressions"].append(
                    {"jq": {"key": fail, "operator": "DoesNotExist"}}
                )
        docs.append(
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Stage",
                "metadata": {"name": "pod-fail"},
                "spec": {
                    "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                    "selector": {
                        "matchExpressions": [
                            {
                                "jq": {
                                    "key": ".metadata.deletionTimestamp",
                                    "operator": "DoesNotExist",
                                }
                            },
                            {"jq": {"key": fail, "operator": "Exists"}},
                            {
                                "jq": {
                                    "key": ".status.phase",
                                    "operator": "In",
                                    "values": ["Running"],
                                }
                            },
                        ]
                    },
                    "next": {"statusTemplate": _FAILED_STATUS},
                },
            }
        )
        docs.append(
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Stage",
                "metadata": {"name": "pod-never-ready"},
                "spec": {
                    "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                    "selector": {
                        "matchExpressions": [
                            {
                                "jq": {
                                    "key": ".metadata.deletionTimestamp",
                                    "operator": "DoesNotExist",
                                }
                            },
                            {"jq": {"key": label, "operator": "Exists"}},
                            {
                                "jq": {
                                    "key": ".status.phase",
                                    "operator": "In",
                                    "values": ["Pending"],
                                }
                            },
                        ]
                    },
                    "next": {"statusTemplate": _NEVER_READY_STATUS},
                },
            }
        )
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        self.restart_component("kwok-controller")

    # -- fault injection (tests/reliability) ------------------------------------------------

    def pid(self, component: str) -> int:
        """The pid of ``component`` (etcd, kube-apiserver, kwok-controller, ...)."""
        home = self.workdir / "clusters" / self.name
        return int((home / "pids" / f"{component}.pid").read_text())

    def kill_component(self, component: str, sig: int = signal.SIGKILL) -> None:
        pid = self.pid(component)
        os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart_component(self, component: str) -> None:
        """Stop ``component`` if it runs and start it again with kwokctl's own command
        line; its new pid goes where kwokctl (and ``stop``) will look for it."""
        home = self.workdir / "clusters" / self.name
        docs = [d for d in yaml.safe_load_all((home / "kwok.yaml").read_text()) if d]
        config = next(d for d in docs if d.get("kind") == "KwokctlConfiguration")
        spec = next(c for c in config["components"] if c["name"] == component)
        pidfile = home / "pids" / f"{component}.pid"
        with contextlib.suppress(ValueError, OSError, ProcessLookupError):
            self.kill_component(component, signal.SIGTERM)
        with (home / "logs" / f"{component}.log").open("ab") as log:
            proc = subprocess.Popen(
                [spec["binary"], *spec["args"]],
                cwd=spec.get("workDir") or home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pidfile.write_text(str(proc.pid))

    def client(self, field_manager: str) -> KubeClient:
        """A client of this cluster that applies as ``field_manager``."""
        return KubeClient(load_api_client(str(self.kubeconfig)), field_manager=field_manager)

    def server(self) -> str:
        config = yaml.safe_load(self.kubeconfig.read_text())
        return str(config["clusters"][0]["cluster"]["server"])

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll /readyz with the admin credentials until it answers ok."""
        pki = self.workdir / "clusters" / self.name / "pki"
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

        def ready() -> bool:
            url = f"{self.server()}/readyz"
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                return bool(response.read().strip() == b"ok")

        wait_for(ready, timeout, "kube-apiserver /readyz", ignore=(OSError,), error=RuntimeError)

    def pause(self) -> None:
        """Stop the processes but keep certificates and etcd data (for a warm start)."""
        self._kwokctl("stop", "cluster")

    def resume(self) -> float:
        """Start a paused cluster again; return the seconds until /readyz answered."""
        began = time.monotonic()
        self._kwokctl("start", "cluster")
        self.wait_ready()
        return time.monotonic() - began

    def stop(self) -> None:
        """Stop exactly the processes this cluster started, remove its state and give up
        its name. A cluster another live process owns is left alone."""
        if owner_of(self.name) not in (None, os.getpid()):
            return
        self._teardown()
        owner_file(self.name).unlink(missing_ok=True)

    def _teardown(self) -> None:
        home = self.workdir / "clusters" / self.name
        if self.node is None and (home / "node").exists():
            self.node = RealNode.existing(
                self.name, home, bin_dir(), cache_dir(), clusters_dir() / "subnets"
            )
        if self.node is not None:
            self.node.stop()
            self.node = None
        self._stop_control_plane()

    def _stop_control_plane(self) -> None:
        pids = []
        for pidfile in (self.workdir / "clusters" / self.name / "pids").glob("*.pid"):
            with contextlib.suppress(ValueError, OSError):
                pids.append(int(pidfile.read_text()))
        self._kwokctl("delete", "cluster", "--kubeconfig", str(self.kubeconfig), check=False)
        deadline = time.monotonic() + 10
        while any(running(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in pids:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.workdir / "clusters" / self.name, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


_NEVER_READY_STATUS = """\
{{ $now := Now }}
phase: Running
startTime: {{ $now | Quote }}
conditions:
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: Ready
  status: "False"
  reason: ContainersNotReady
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: ContainersNotReady
  lastTransitionTime: {{ $now | Quote }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
"""


_FAILED_STATUS = """\
{{ $now := Now }}
phase: Failed
conditions:
- type: Ready
  status: "False"
  reason: PodFailed
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "False"
  reason: PodFailed
  lastTransitionTime: {{ $now | Quote }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: 1
      reason: Error
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
"""


def install_crds(kube: KubeClient, timeout: float = 30.0) -> KubeClient:
    """Apply deploy/crds with ``kube`` and wait until they are Established; ``kube``."""
    apply_crds(kube, sorted((HACK.parent / "deploy" / "crds").glob("*.yaml")), timeout)
    return kube


def apply_crds(kube: KubeClient, paths: list[Path], timeout: float) -> None:
    """Apply the CRDs in ``paths`` with ``kube`` (a KubeClient), wait until each is
    Established, then refresh the client's discovery."""
    crds = [yaml.safe_load(p.read_text()) for p in paths]
    for crd in crds:
        kube.apply(crd)

    def established(crd: dict[str, Any]) -> bool:
        ref = ObjectRef(
            "apiextensions.k8s.io", "CustomResourceDefinition", "", crd["metadata"]["name"]
        )
        live = kube.get(crd["apiVersion"], ref) or {}
        conditions = (live.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    names = ", ".join(crd["metadata"]["name"] for crd in crds)
    wait_for(
        lambda: all(established(crd) for crd in crds),
        timeout,
        f"the CRDs {names} to be Established",
        period=0.1,
        error=RuntimeError,
    )
    kube.refresh_discovery()


def reap_orphans() -> list[str]:
    """Delete clusters whose owning process is gone (a crashed test run or demo)."""
    reaped = []
    # A cluster knows its owner from its claim (written first) or its owner.pid (written
    # once created); one with neither is still being created by someone else.
    claimed = {p.stem for p in (clusters_dir() / "owners").glob("*.pid")}
    created = {p.parent.name for p in (clusters_dir() / "clusters").glob("*/owner.pid")}
    for name in sorted(claimed | created):
        if owner_of(name) is not None:
            continue
        LocalCluster(name=name).stop()
        reaped.append(name)
    return reaped


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Run the local control plane.")
    parser.add_argument("command", choices=["up", "reap"])
    parser.add_argument("--real-node", action="store_true", help="add a real node")
    args = parser.parse_args()
    if args.command == "reap":
        print("reaped:", ", ".join(reap_orphans()) or "none")
        return
    build_binaries()
    stop_on_termination()
    cluster = LocalCluster(name=free_name("gitops-dev"), real_node=args.real_node)
    try:
        cluster.start()
        print(f"control plane {cluster.name} ready in {cluster.startup_seconds:.1f}s")
        print(f"export KUBECONFIG={cluster.kubeconfig}", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
