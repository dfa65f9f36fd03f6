"""Serve bare Git repositories over smart HTTP with the real ``git http-backend``.

Used by the integration tests and the demo: a real Git server on 127.0.0.1, optionally
behind HTTP basic auth, counting the requests it answers. Pushes (``git-receive-pack``,
``http.receivepack``) are accepted only with the ``push_auth`` credentials; any other
client, read credentials included, is refused them.

    python hack/gitserver.py ROOT [--port N]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hmac
import os
import subprocess
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

GIT_HTTP_BACKEND = os.environ.get("GIT_HTTP_BACKEND", "/usr/lib/git-core/git-http-backend")


def git(
    cwd: Path, *args: str, name: str = "gitops-operator", email: str = "gitops@example.com"
) -> str:
    """Run ``git args`` in ``cwd`` as a fixed author; its stripped stdout (for the scripts
    that prepare the repositories this server serves)."""
    return subprocess.run(
        ["git", "-c", f"user.name={name}", "-c", f"user.email={email}", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


class GitHTTPServer:
    """A threaded HTTP server in front of ``git http-backend`` for every repo under root."""

    def __init__(
        self,
        root: Path,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        auth: tuple[str, str] | None = None,
        bearer: str | None = None,
        delay: float = 0.0,
        push_auth: tuple[str, str] | None = None,
    ) -> None:
        self.root = root
        self.auth = auth
        self.push_auth = push_auth
        """Basic-auth credentials that may push; None: nobody may."""
        self.bearer = bearer
        self.delay = delay
        self.requests: Counter[str] = Counter()
        self.bytes_sent = 0
        """Response body bytes the clients took (a client that gives up takes no more)."""
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self.host = host  # the real node's pods reach the host end of its veth, not loopback
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, repo: str) -> str:
        return f"http://{self.host}:{self.port}/{repo}"

    def count(self, kind: str) -> None:
        with self._lock:
            self.requests[kind] += 1

    def sent(self, size: int) -> None:
        with self._lock:
            self.bytes_sent += size

    def start(self) -> GitHTTPServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> GitHTTPServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server_state: GitHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the tests read counters, not logs

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout under test)

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def _authorized(self) -> bool:
        state = self.server_state
        if state.auth is None and state.bearer is None:
            return True
        if self._may_push():  # who may write may read
            return True
        header = self.headers.get("Authorization", "")
        if state.bearer is not None and hmac.compare_digest(header, f"Bearer {state.bearer}"):
            return True
        if state.auth is not None:
            token = base64.b64encode(f"{state.auth[0]}:{state.auth[1]}".encode()).decode()
            return hmac.compare_digest(header, f"Basic {token}")
        return False

    def _may_push(self) -> bool:
        push_auth = self.server_state.push_auth
        if push_auth is None:
            return False
        token = base64.b64encode(f"{push_auth[0]}:{push_auth[1]}".encode()).decode()
        return hmac.compare_digest(self.headers.get("Authorization", ""), f"Basic {token}")

    def _backend(self) -> None:
        parts = urlsplit(self.path)
        pushing = parts.path.endswith("/git-receive-pack") or "service=git-receive-pack" in (
            parts.query
        )
        may_push = pushing and self._may_push()
        if pushing and not may_push:
            self.server_state.count("push refused")
            refused = 403 if self.headers.get("Authorization") else 401
            self.send_response(refused)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not self._authorized():
            self.server_state.count("unauthorized")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.server_state.delay:
            time.sleep(self.server_state.delay)
        body = self._read_body()
        if parts.path.endswith("/git-upload-pack"):
            # protocol v2 names the command in the request: ls-refs (what ls-remote
            # does) or fetch (what transfers objects)
            plain = body
            if self.headers.get("Content-Encoding", "") == "gzip":
                plain = gzip.decompress(body)
            self.server_state.count("fetch" if b"command=fetch" in plain else "ls-refs")
        elif parts.path.endswith("/git-receive-pack"):
            self.server_state.count("push")
        elif parts.path.endswith("/info/refs"):
            self.server_state.count("advertise")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server_state.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": self.server_state.auth[0] if self.server_state.auth else "",
            # receive-pack only for the push credentials (checked above), never by default
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true" if may_push else "false",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run(
            [GIT_HTTP_BACKEND], input=body, env=env, capture_output=True, timeout=60, check=False
        )
        out = result.stdout
        head, _, payload = out.partition(b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        for start in range(0, len(payload), 64 * 1024):
            chunk = payload[start : start + 64 * 1024]
            self.wfile.write(chunk)
            self.server_state.sent(len(chunk))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = GitHTTPServer(args.root, port=args.port)
    print(f"serving {args.root} on http://127.0.0.1:{server.port}/", flush=True)
    server._httpd.serve_forever()


if __name__ == "__main__":
    main()
