"""A real Helm chart repository on 127.0.0.1: charts packaged and indexed by the pinned
helm (``helm package``, ``helm repo index``), served over HTTP, optionally behind basic
auth; and, when it is built, a real OCI registry (the CNCF distribution registry)."""

from __future__ import annotations

import base64
import socket
import subprocess
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gitops_operator.config import Settings

from .support import free_port, wait_for


def helm_env(home: Path) -> dict[str, str]:
    """An environment that keeps helm's config and cache in ``home``."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def helm(*args: str, home: Path) -> str:
    return subprocess.run(
        [Settings().helm_binary, *args],
        check=True,
        capture_output=True,
        text=True,
        env=helm_env(home),
    ).stdout


def write_chart(directory: Path, name: str, version: str, configmap_value: str = "v") -> Path:
    """A chart whose one template is a ConfigMap ``<release>-<name>``."""
    chart = directory / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: {version}\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {{{{ .Release.Name }}}}-{name}\ndata:\n"
        f"  version: {version!r}\n  value: {configmap_value!r}\n"
    )
    return chart


class _Handler(SimpleHTTPRequestHandler):
    auth: str | None = None
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        if self.auth and self.headers.get("Authorization") != f"Basic {self.auth}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


class ChartRepository:
    """Charts in ``root``, indexed for ``url`` and served on 127.0.0.1."""

    def __init__(self, root: Path, *, username: str = "", password: str = "") -> None:
        self.root = root
        self.home = root.parent / f"{root.name}-helm"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        self._auth = (
            base64.b64encode(f"{username}:{password}".encode()).decode() if password else None
        )
        self._server: ThreadingHTTPServer | None = None
        root.mkdir(parents=True, exist_ok=True)

    def publish(self, name: str, version: str, configmap_value: str = "v") -> Path:
        """Package a chart into the repository and re-index it; returns the archive."""
        chart = write_chart(
            self.root.parent / f"{self.root.name}-src" / version, name, version, configmap_value
        )
        helm("package", str(chart), "--destination", str(self.root), home=self.home)
        helm("repo", "index", str(self.root), "--url", self.url, home=self.home)
        return self.root / f"{name}-{version}.tgz"

    def __enter__(self) -> ChartRepository:
        handler = type("Handler", (_Handler,), {"auth": self._auth, "requests": self.requests})
        self._server = ThreadingHTTPServer(
            ("127.0.0.1", self.port), partial(handler, directory=str(self.root))
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def registry_binary() -> str | None:
    """The CNCF distribution registry built by hack/build-binaries.sh, if it is there."""
    path = Path(Settings().helm_binary).parent / "registry"
    return str(path) if path.is_file() else None


@contextmanager
def oci_registry(root: Path, *, username: str = "", password: str = "") -> Iterator[str]:
    """A distribution registry on 127.0.0.1 (plain HTTP, filesystem storage, basic auth
    when ``password`` is given); yields ``host:port``."""
    binary = registry_binary()
    assert binary is not None
    port = free_port()
    config = root / "registry.yml"
    root.mkdir(parents=True, exist_ok=True)
    auth = ""
    if password:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

            # the registry reads bcrypt htpasswd entries only
            hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))  # noqa: S324
        (root / "htpasswd").write_text(f"{username}:{hashed}\n")
        auth = f"auth: {{htpasswd: {{realm: charts, path: {root / 'htpasswd'}}}}}\n"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n" + auth
    )
    env = {"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "none"}
    with (root / "registry.log").open("ab") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log, env=env)
    try:
        wait_for(lambda: _listening(port), timeout=20, what="registry listening")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
