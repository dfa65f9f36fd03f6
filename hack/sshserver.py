"""A real OpenSSH server on 127.0.0.1 serving Git repositories, for auth tests.

Generates a host key and a client key in a private directory, runs ``/usr/sbin/sshd -D``
on a free port with key-only login, and hands out what a GitRepository Secret needs:
the client's private key and a known_hosts line for the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

from waiting import free_port, wait_for

SSHD = "/usr/sbin/sshd"


class SSHGitServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gitops-sshd-"))
        os.chmod(self.dir, 0o700)
        self.port = free_port()
        self.user = os.environ.get("USER") or "root"
        self.proc: subprocess.Popen[bytes] | None = None

    def _keygen(self, name: str) -> Path:
        path = self.dir / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
        return path

    def start(self) -> SSHGitServer:
        host_key = self._keygen("host_key")
        client_key = self._keygen("client_key")
        (self.dir / "authorized_keys").write_text((client_key.with_suffix(".pub")).read_text())
        os.chmod(self.dir / "authorized_keys", 0o600)
        config = self.dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_for(self._listening, 10, "sshd to listen", period=0.05, error=RuntimeError)
        return self

    def _listening(self) -> bool:
        assert self.proc is not None and self.proc.stderr is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {self.proc.stderr.read().decode()[-2000:]}")
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    @property
    def identity(self) -> str:
        return (self.dir / "client_key").read_text()

    @property
    def known_hosts(self) -> str:
        key = (self.dir / "host_key.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {key[0]} {key[1]}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self) -> SSHGitServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
