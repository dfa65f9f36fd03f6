"""Git credentials from a Secret, handed to git without touching argv, URLs or logs.

HTTPS: ``username``/``password`` (basic) or ``bearerToken``, passed as an
``http.extraHeader`` git config value (set through ``GIT_CONFIG_*`` environment variables
by the caller). Never over plain ``http://``, where anyone on the path reads them, unless
the target is this machine (a loopback address, as browsers treat it). SSH: ``identity``
(a private key) and ``known_hosts`` (mandatory: host keys are always checked), written to
a private temporary directory for the duration of one git command.
"""

from __future__ import annotations

import base64
import os
import shlex
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import InvalidSpecError


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    username: str = ""
    password: str = ""
    bearer_token: str = ""
    identity: str = ""
    known_hosts: str = ""

    def __repr__(self) -> str:  # never print secret values
        return "Credentials(***)"

    @classmethod
    def from_secret(cls, name: str, data: Mapping[str, str]) -> Credentials:
        """Decode a Secret's ``data`` (base64 values)."""

        def value(key: str) -> str:
            raw = data.get(key)
            return base64.b64decode(raw).decode().strip("\n") if raw else ""

        creds = cls(
            value("username"),
            value("password"),
            value("bearerToken"),
            value("identity"),
            value("known_hosts"),
        )
        if not (creds.password or creds.bearer_token or creds.identity):
            raise InvalidSpecError(
                f"Secret {name} has none of password, bearerToken or identity",
                reason="InvalidSecret",
            )
        if creds.identity and not creds.known_hosts:
            raise InvalidSpecError(
                f"Secret {name} has an ssh identity but no known_hosts: host keys are always"
                " verified",
                reason="InvalidSecret",
            )
        return creds

    @property
    def values(self) -> list[str]:
        """Every secret value, to scrub from anything git prints."""
        return [v for v in (self.password, self.bearer_token, self.identity) if len(v) >= 4]


@dataclass(frozen=True, slots=True)
class GitAuth:
    """What one git command needs to authenticate: environment variables and git config."""

    env: dict[str, str]
    config: list[tuple[str, str]]


@contextmanager
def git_environment(
    url: str, creds: Credentials | None, *, loopback: bool = False
) -> Iterator[GitAuth]:
    """Environment and config that make one git command authenticate as ``creds``;
    ``loopback`` says the URL's host resolved only to loopback addresses."""
    scheme = urlsplit(url).scheme
    if creds is None:
        yield GitAuth({}, [])
        return
    if scheme == "http" and not loopback and (creds.bearer_token or creds.password):
        raise InvalidSpecError(
            "credentials are never sent over plain http:// (anyone on the way could read"
            " them): use an https:// or ssh:// URL",
            reason="InsecureCredentials",
        )
    if scheme in ("http", "https"):
        if creds.bearer_token:
            header = f"Authorization: Bearer {creds.bearer_token}"
        elif creds.password:
            token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            header = f"Authorization: Basic {token}"
        else:
            raise InvalidSpecError(
                "an https repository needs password or bearerToken in its Secret",
                reason="InvalidSecret",
            )
        yield GitAuth({}, [("http.extraHeader", header)])
        return
    if scheme == "ssh":
        if not creds.identity:
            raise InvalidSpecError(
                "an ssh repository needs identity and known_hosts in its Secret",
                reason="InvalidSecret",
            )
        with tempfile.TemporaryDirectory(prefix="gitops-ssh-") as tmp:
            key, hosts = Path(tmp) / "identity", Path(tmp) / "known_hosts"
            key.write_text(creds.identity + "\n")
            hosts.write_text(creds.known_hosts + "\n")
            os.chmod(key, 0o600)
            command = [
                "ssh",
                "-F",
                "/dev/null",
                "-i",
                str(key),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                f"UserKnownHostsFile={hosts}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=15",
                "-o",
                "ServerAliveInterval=15",
                "-o",
                "ServerAliveCountMax=2",
            ]
            yield GitAuth({"GIT_SSH_COMMAND": shlex.join(command)}, [])
        return
    yield GitAuth({}, [])
