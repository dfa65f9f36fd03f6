"""A real node beside the kwok ones: containerd, runc, the CNI bridge, kubelet, kube-proxy.

Everything of one node lives in one network namespace of its own (``gk-<cluster>``), joined
to the host by a veth pair on a /30 (``10.245.N.0/30``: the host end ``.1``, the node
``.2``), with pods on the bridge of a /24 (``10.244.N.0/24``). N is claimed per cluster,
so a test run, the demo and a benchmark each get their own bridge, iptables chains and
conntrack table, and never see one another's. The node's namespace has no default route:
pods reach the node, the host end of the veth (where the API server and the tests' Git
server listen) and ClusterIPs, nothing else.

containerd runs with its own config, socket, root and state under the cluster's
directory; kubelet and kube-proxy use the cluster's admin credentials. Stopping the node
kills what it started (containers included), unmounts what it mounted and deletes the
namespace, which takes the bridge, the veth and the iptables rules with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

import ociimage
from waiting import wait_for

SERVICE_CIDR = "10.0.0.0/24"  # kwokctl's default service range
SERVICE_IP = "10.0.0.1"  # the ``kubernetes`` Service
POD_CIDR = "10.244.{n}.0/24"
LINK_HOST = "10.245.{n}.1"
LINK_NODE = "10.245.{n}.2"
CNI_BIN = Path("/usr/lib/cni")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node=fake"
"""kwokctl's node template carries this annotation; kwok manages only nodes with it."""


def cannot_run(bin_dir: Path) -> str | None:
    """Why this machine cannot run a real node, or None when it can."""
    if os.geteuid() != 0:
        return "a real node needs root (containerd, network namespaces)"
    need = {
        "containerd": shutil.which("containerd"),
        "runc": shutil.which("runc"),
        "ctr": shutil.which("ctr"),
        "ip": shutil.which("ip"),
        "nsenter": shutil.which("nsenter"),
        "iptables": shutil.which("iptables"),
        "CNI bridge plugin": str(CNI_BIN / "bridge") if (CNI_BIN / "bridge").exists() else None,
    }
    for name in ("kubelet", "kube-proxy", "pause"):
        need[name] = str(bin_dir / name) if (bin_dir / name).exists() else None
    missing = [name for name, path in need.items() if not path]
    if missing:
        return f"a real node needs {', '.join(missing)} (run hack/install-packages.sh as root)"
    return None


def _run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=timeout)


def running(pid: int) -> bool:
    """True while ``pid`` exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _claim_subnet(claims: Path, owner: str, owner_alive: object) -> int:
    """The first N whose claim file is free or whose owning cluster is gone."""
    claims.mkdir(parents=True, exist_ok=True)
    for n in range(1, 255):
        path = claims / str(n)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = path.read_text().strip()
            if holder == owner:
                return n
            if callable(owner_alive) and not owner_alive(holder):
                path.unlink(missing_ok=True)
                with contextlib.suppress(FileExistsError):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    with os.fdopen(fd, "w") as out:
                        out.write(owner)
                    return n
            continue
        with os.fdopen(fd, "w") as out:
            out.write(owner)
        return n
    raise RuntimeError("no free node subnet in 10.244.1-254.0/24")


@dataclass
class RealNode:
    """The node of one cluster. ``start()`` returns once the Node is Ready."""

    cluster: str
    home: Path  # the cluster's directory (kwokctl's); the node keeps its state in home/node
    bin_dir: Path
    cache: Path
    api_port: int
    claims: Path
    n: int = 0
    ready_seconds: float = 0.0

    @classmethod
    def existing(
        cls, cluster: str, home: Path, bin_dir: Path, cache: Path, claims: Path
    ) -> RealNode:
        """The node a cluster left behind (its owner died): enough of it to stop it."""
        n = 0
        for path in claims.glob("*"):
            with contextlib.suppress(OSError):
                if path.read_text().strip() == cluster:
                    n = int(path.name)
        return cls(cluster, home, bin_dir, cache, api_port=0, claims=claims, n=n)

    @property
    def name(self) -> str:
        return f"{self.cluster}-node"

    @property
    def netns(self) -> str:
        return f"gk-{self.cluster}"[:32]

    @property
    def dir(self) -> Path:
        return self.home / "node"

    @property
    def host_ip(self) -> str:
        return LINK_HOST.format(n=self.n)

    @property
    def node_ip(self) -> str:
        return LINK_NODE.format(n=self.n)

    @property
    def pod_cidr(self) -> str:
        return POD_CIDR.format(n=self.n)

    @property
    def socket(self) -> Path:
        return self.dir / "containerd" / "containerd.sock"

    # -- start ----------------------------------------------------------------------------

    def claim(self, owner_alive: object) -> None:
        """Take the first free N: the node's link and pod subnets."""
        self.n = _claim_subnet(self.claims, self.cluster, owner_alive)

    def start(self) -> RealNode:
        began = time.monotonic()
        (self.dir / "pids").mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self._network()
        self._write_kubeconfig()
        self._containerd()
        self.import_image(self.pause_image())
        self._kubelet()
        self._kube_proxy()
        self.ready_seconds = time.monotonic() - began
        return self

    def _network(self) -> None:
        ns, n = self.netns, self.n
        host, node = f"gkh{n}", f"gkn{n}"
        _run("ip", "netns", "del", ns, check=False)
        _run("ip", "link", "del", host, check=False)
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", host, "type", "veth", "peer", "name", node)
        _run("ip", "link", "set", node, "netns", ns)
        _run("ip", "addr", "add", f"{self.host_ip}/30", "dev", host)
        _run("ip", "link", "set", host, "up")
        inside = ("ip", "-n", ns)
        _run(*inside, "addr", "add", f"{self.node_ip}/30", "dev", node)
        _run(*inside, "link", "set", node, "up")
        _run(*inside, "link", "set", "lo", "up")
        # ClusterIPs are translated inside the namespace; locally made connections still
        # need a route to be looked up first. No default route: nothing leaves this machine.
        _run(*inside, "route", "add", SERVICE_CIDR, "via", self.host_ip)
        self._in_ns("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self._in_ns("sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1", check=False)
        cni = self.dir / "cni"
        cni.mkdir(parents=True, exist_ok=True)
        (cni / "10-bridge.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "1.0.0",
                    "name": "gitops-bridge",
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": "cni0",
                            "isGateway": True,
                            "ipMasq": True,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": self.pod_cidr}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(self.dir / "cni-ipam"),
                            },
                        },
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                }
            )
        )

    def _in_ns(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("nsenter", f"--net=/run/netns/{self.netns}", "--", *args, check=check)

    def run_inside(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a host command in the node's network namespace, where ClusterIPs and pod
        addresses answer (tests reach a Service as a pod would)."""
        return self._in_ns(*args, check=check)

    def _spawn(self, name: str, *args: str) -> int:
        """Start ``args`` inside the node's network namespace (and nothing else's)."""
        with (self.dir / "logs" / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{self.netns}", "--", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (self.dir / "pids" / f"{name}.pid").write_text(str(proc.pid))
        return proc.pid

    def _write_kubeconfig(self) -> None:
        """The admin credentials, reaching the API server on the host end of the veth; the
        certificate names localhost, which is who answers there."""
        pki = self.home / "pki"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": f"https://{self.host_ip}:{self.api_port}",
                        "certificate-authority": str(pki / "ca.crt"),
                        "tls-server-name": "localhost",
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate": str(pki / "admin.crt"),
                        "client-key": str(pki / "admin.key"),
                    },
                }
            ],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
            "current-context": "local",
        }
        (self.dir / "kubeconfig").write_text(yaml.safe_dump(config))

    def _containerd(self) -> None:
        base = self.dir / "containerd"
        (base / "root").mkdir(parents=True, exist_ok=True)
        (base / "state").mkdir(parents=True, exist_ok=True)
        config = f"""\
version = 2
root = "{base / "root"}"
state = "{base / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{self.pause_ref()}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{self.dir / "cni"}"
"""
        (base / "config.toml").write_text(config)
        self._spawn("containerd", "containerd", "--config", str(base / "config.toml"))
        self._wait(
            lambda: self._ctr("version", check=False).returncode == 0,
            30,
            "containerd to answer",
            "containerd",
        )

    def _ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ctr", "--address", str(self.socket), "-n", "k8s.io", *args, check=check)

    def pause_ref(self) -> str:
        digest = hashlib.sha256((self.bin_dir / "pause").read_bytes()).hexdigest()[:12]
        return f"localhost/gitops-operator/pause:{digest}"

    def pause_image(self) -> Path:
        """A one-layer image holding the pause binary, built once per binary."""
        ref = self.pause_ref()
        out = self.cache / "images" / f"pause-{ref.rsplit(':', 1)[1]}.tar"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            root = self.dir / "pause-rootfs"
            root.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.bin_dir / "pause", root / "pause")
            os.chmod(root / "pause", 0o755)  # noqa: S103 (an executable in an image)
            os.chown(root / "pause", 0, 0)
            ociimage.write_image(
                [ociimage.layer_tar(root)], out, ref, entrypoint=["/pause"], user="65535"
            )
            shutil.rmtree(root)
        return out

    def import_image(self, tar: Path) -> None:
        """Make an image tar (OCI layout or docker-archive) available to the node's pods."""
        self._ctr("images", "import", "--no-unpack", str(tar), check=True)

    def _kubelet(self) -> None:
        kubelet = self.dir / "kubelet"
        kubelet.mkdir(parents=True, exist_ok=True)
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "failSwapOn": False,
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "localStorageCapacityIsolation": False,
            "evictionHard": {},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "podLogsDir": str(self.dir / "pod-logs"),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.home / "pki" / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "address": self.node_ip,
            "healthzBindAddress": "127.0.0.1",
            "serializeImagePulls": False,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "maxPods": 60,
            "registerNode": True,
            "staticPodPath": "",
            "syncFrequency": "10s",
            "fileCheckFrequency": "10s",
            "nodeStatusReportFrequency": "10s",
        }
        (kubelet / "config.yaml").write_text(yaml.safe_dump(config))
        self._spawn(
            "kubelet",
            str(self.bin_dir / "kubelet"),
            "--config",
            str(kubelet / "config.yaml"),
            "--kubeconfig",
            str(self.dir / "kubeconfig"),
            "--hostname-override",
            self.name,
            "--node-ip",
            self.node_ip,
            "--root-dir",
            str(kubelet / "root"),
            "--cert-dir",
            str(kubelet / "pki"),
            "--v",
            "1",
        )

    def _kube_proxy(self) -> None:
        self._spawn(
            "kube-proxy",
            str(self.bin_dir / "kube-proxy"),
            "--kubeconfig",
            str(self.dir / "kubeconfig"),
            "--proxy-mode",
            "iptables",
            "--cluster-cidr",
            self.pod_cidr,
            "--hostname-override",
            self.name,
            "--bind-address",
            self.node_ip,
            "--conntrack-max-per-core",
            "0",
            "--conntrack-tcp-timeout-established",
            "0",
            "--conntrack-tcp-timeout-close-wait",
            "0",
            "--metrics-bind-address",
            "127.0.0.1:10249",
            "--v",
            "1",
        )

    def _wait(self, probe: Callable[[], bool], timeout: float, what: str, component: str) -> None:
        """Wait for ``probe``; fail with ``component``'s log as soon as it exits."""

        def answered() -> bool:
            if probe():
                return True
            pid = self.pid(component)
            if pid and not running(pid):
                raise RuntimeError(f"{component} exited:\n{self.log_tail(component)}")
            return False

        wait_for(
            answered,
            timeout,
            what,
            error=lambda message: RuntimeError(f"{message}\n{self.log_tail(component)}"),
        )

    def pid(self, component: str) -> int:
        try:
            return int((self.dir / "pids" / f"{component}.pid").read_text())
        except (OSError, ValueError):
            return 0

    def log_tail(self, component: str, lines: int = 15) -> str:
        try:
            text = (self.dir / "logs" / f"{component}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- stop -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Kill what the node started, containers included; unmount; drop the namespace."""
        socket = str(self.socket)
        shims = [pid for pid, cmd in processes() if "containerd-shim" in cmd and socket in cmd]
        netns_inodes = set()
        doomed: list[int] = []
        for shim in shims:
            for pid in _descendants(shim):
                with contextlib.suppress(OSError):
                    netns_inodes.add(os.stat(f"/proc/{pid}/ns/net").st_ino)
                doomed.append(pid)
        for component in ("kubelet", "kube-proxy", "containerd"):
            pid = self.pid(component)
            if pid and running(pid):
                doomed.append(pid)
        for pid in [*doomed, *shims]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(running(p) for p in [*doomed, *shims]) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._unmount(netns_inodes)
        if self.n:
            _run("ip", "netns", "del", self.netns, check=False)
            _run("ip", "link", "del", f"gkh{self.n}", check=False)
            (self.claims / str(self.n)).unlink(missing_ok=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _unmount(self, netns_inodes: set[int]) -> None:
        under = str(self.dir) + "/"
        targets = []
        with open("/proc/self/mountinfo") as info:
            for line in info:
                point = line.split()[4].replace("\\040", " ")
                if point.startswith(under):
                    targets.append(point)
        for netns in Path("/run/netns").glob("cni-*"):
            with contextlib.suppress(OSError):
                if os.stat(netns).st_ino in netns_inodes:
                    targets.append(str(netns))
        for point in sorted(targets, key=len, reverse=True):
            _run("umount", "-l", point, check=False)
            if point.startswith("/run/netns/"):
                with contextlib.suppress(OSError):
                    os.unlink(point)


def processes() -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(entry.name), cmd))
    return found


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out
