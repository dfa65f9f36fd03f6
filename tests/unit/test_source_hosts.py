"""Repository URLs that would reach the operator's own machine or cluster are refused
before any connection: a listening socket on 127.0.0.1 proves nothing connected."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_operator.api import GitRef, RefKind
from gitops_operator.config import Settings
from gitops_operator.errors import InvalidSpecError, SourceError
from gitops_operator.source import Credentials, GitSource
from gitops_operator.source.auth import git_environment
from gitops_operator.source.hosts import HostPolicy, check_target


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that records connections (any would sit in its backlog)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"a refused URL must not be resolved ({host})")


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "LOCALHOST.",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "[::1]",
    ],
)
def test_loopback_in_any_spelling_is_refused_before_connecting(
    tmp_path: Path, listener: socket.socket, host: str
) -> None:
    port = listener.getsockname()[1]
    source = GitSource(tmp_path / "cache")
    for call in (
        lambda url: source.resolve(url, GitRef(RefKind.BRANCH, "main"), timeout=5),
        lambda url: source.fetch(url, GitRef(RefKind.COMMIT, "a" * 40), "a" * 40, timeout=5),
    ):
        with pytest.raises(InvalidSpecError) as err:
            call(f"http://{host}:{port}/repo.git")
        assert err.value.reason == "HostNotAllowed"
        assert "GITOPS_ALLOWED_GIT_HOSTS" in str(err.value)
    assert connections(listener) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/r.git",
        "https://10.0.0.5/r.git",
        "https://172.16.0.1/r.git",
        "https://192.168.1.1/r.git",
        "https://100.64.0.1/r.git",
        "http://0.0.0.0:10250/r.git",
        "http://[::]/r.git",
        "https://kubernetes.default.svc/r.git",
        "https://gitea.git.svc.cluster.local/r.git",
        "ssh://git@metadata.google.internal/r.git",
        "http://localhost:10250/pods",
    ],
)
def test_internal_targets_are_refused_without_a_lookup(url: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        check_target(url, HostPolicy(), no_dns)
    assert err.value.reason == "HostNotAllowed"


def test_every_resolved_address_is_checked() -> None:
    """A name with one public and one private address (or rebinding to one) is refused."""

    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.1.2.3"]

    with pytest.raises(InvalidSpecError):
        check_target("https://git.example.com/r.git", HostPolicy(), resolver)


def test_public_names_pass_with_their_checked_addresses() -> None:
    target = check_target("https://git.example.com/r.git", HostPolicy(), lambda h, p: ["1.1.1.1"])
    assert (target.host, target.port, target.addresses) == ("git.example.com", 443, ("1.1.1.1",))


def test_the_allow_list_admits_names_addresses_and_networks() -> None:
    policy = HostPolicy.parse(["git.corp.example", "*.svc.cluster.local", "10.0.0.0/8", "::1"])
    assert check_target("https://git.corp.example/r", policy, lambda h, p: ["192.168.0.9"])
    assert check_target("http://gitea.ns.svc.cluster.local/r", policy, lambda h, p: ["10.96.0.1"])
    assert check_target("https://10.2.3.4/r", policy, no_dns)
    assert check_target("https://[::1]:3000/r", policy, no_dns)
    with pytest.raises(InvalidSpecError):
        check_target("https://192.168.0.9/r", policy, no_dns)
    with pytest.raises(InvalidSpecError, match="numeric host"):
        check_target("https://0x0a000001/r", policy, no_dns)


def test_the_allow_list_comes_from_the_environment() -> None:
    settings = Settings.from_env({"GITOPS_ALLOWED_GIT_HOSTS": "127.0.0.1, git.corp.example"})
    assert settings.allowed_git_hosts == ("127.0.0.1", "git.corp.example")
    assert Settings.from_env({}).allowed_git_hosts == ()


@pytest.mark.parametrize("data", [{"password": "hunter2-pass"}, {"bearerToken": "tok-hunter2"}])
def test_credentials_are_not_sent_over_plain_http(data: dict[str, str]) -> None:
    secret = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    creds = Credentials.from_secret("ns/s", secret)
    with (
        pytest.raises(InvalidSpecError) as err,
        git_environment("http://git.example.com/r.git", creds, loopback=False),
    ):
        pass
    assert err.value.reason == "InsecureCredentials" and "hunter2" not in str(err.value)
    with git_environment("https://git.example.com/r.git", creds) as auth:
        assert [key for key, _ in auth.config] == ["http.extraHeader"]
    with git_environment("http://127.0.0.1:8080/r.git", creds, loopback=True) as auth:
        assert auth.config, "this machine's own loopback is not a network path"


def test_git_connects_to_the_checked_address_without_resolving_again(tmp_path: Path) -> None:
    """The checked address is pinned: ``vm`` resolves to 127.0.0.1 on this machine, but
    the check saw 127.0.0.2, and that is where git connects (no DNS rebinding window)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.2", 0))
    server.listen(8)
    port = server.getsockname()[1]
    accepted: list[str] = []

    def serve() -> None:
        conn, peer = server.accept()
        accepted.append(peer[0])
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    source = GitSource(
        tmp_path / "cache",
        allowed_hosts=HostPolicy.parse(["127.0.0.0/8"]),
        resolver=lambda host, port: ["127.0.0.2"],
    )
    try:
        with pytest.raises(SourceError):
            source.resolve(f"http://vm:{port}/r.git", GitRef(RefKind.BRANCH, "main"), timeout=10)
        thread.join(5)
    finally:
        server.close()
    assert accepted, "git connected to the pinned 127.0.0.2, not to what vm resolves to"
