"""Which hosts a repository URL may reach: public addresses, plus what the operator's
administrator allow-lists (``GITOPS_ALLOWED_GIT_HOSTS``).

A tenant names a URL; the operator connects from inside the cluster. Without this check a
GitRepository could reach the cloud metadata endpoint, the kubelet or any Service, and
read the answer (or its absence) back from its status. So before any connection:

- names meant for the inside (``localhost``, ``*.localhost``, ``*.svc``,
  ``*.cluster.local``, ``*.internal``) are refused unless allow-listed by name;
- numeric hosts must be written canonically (``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
  ``127.1`` are refused, whatever they point at);
- the name is resolved and every address must be public (not loopback, link-local,
  private, unspecified, multicast or reserved, IPv4-mapped IPv6 included) or inside an
  allow-listed network.

DNS rebinding: the addresses checked are the addresses git uses. For http(s) they are
pinned with ``http.curloptResolve`` so git does not resolve the name again, and
redirects are not followed. ssh resolves again on its own, but host keys are always
verified, so a rebound name reaches a host that fails the key check before any Git data
is exchanged.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InvalidSpecError, SourceError, redact

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

INSIDE_SUFFIXES = (".localhost", ".svc", ".cluster.local", ".internal", ".local")
INSIDE_NAMES = ("localhost",)
DEFAULT_PORTS = {"http": 80, "https": 443, "ssh": 22}
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The allow-list: exact names, ``*.suffix`` names, addresses and networks."""

    names: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> HostPolicy:
        """``git.corp.example``, ``*.corp.example``, ``127.0.0.1``, ``10.0.0.0/8``, ``::1``."""
        names: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.append(entry)
        return cls(tuple(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return any(
            host == name or (name.startswith("*.") and host.endswith(name[1:]))
            for name in self.names
        )

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a checked URL connects: its host, port and the addresses it may use."""

    host: str
    port: int
    addresses: tuple[str, ...]


def check_target(url: str, policy: HostPolicy, resolve: Resolver | None = None) -> Target:
    """The host, port and addresses of ``url``, or ``InvalidSpecError`` (reason
    ``HostNotAllowed``) before any connection is made."""
    parts = urlsplit(url)
    try:
        host, port = (parts.hostname or "").rstrip(".").lower(), parts.port
    except ValueError as exc:
        raise _refused(url, "its port is not a number") from exc
    if not host:
        raise _refused(url, "it names no host")
    port = port or DEFAULT_PORTS.get(parts.scheme, 0)
    literal = _literal(host)
    if literal is None and _NUMERIC_HOST.fullmatch(host) and not _has_letter_label(host):
        raise _refused(url, "a numeric host must be a plain dotted IPv4 or an IPv6 address")
    if policy.allows_name(host):
        return Target(host, port, tuple(_resolve(url, host, port, resolve)))
    if literal is None and (host in INSIDE_NAMES or host.endswith(INSIDE_SUFFIXES)):
        raise _refused(url, "it names a host inside the cluster or this machine")
    addresses = [literal] if literal is not None else _resolve(url, host, port, resolve)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not _public(address) and not policy.allows_address(address):
            raise _refused(url, "it points at a loopback, link-local or private address")
    return Target(host, port, tuple(str(a) for a in addresses))


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def _resolve(url: str, host: str, port: int, resolve: Resolver | None) -> list[str]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        addresses = (resolve or system_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise SourceError(
            f"repository URL {redact(url)!r}: cannot resolve host {host!r}",
            reason="GitOperationFailed",
        ) from exc
    if not addresses:
        raise SourceError(f"repository URL {redact(url)!r}: host {host!r} has no address")
    return addresses


def _literal(host: str) -> str | None:
    """The canonical text of an IP literal written the standard way, else None."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(address)


def _has_letter_label(host: str) -> bool:
    """``deadbeef.example`` is a name; ``0x7f.1`` or ``2130706433`` is not."""
    return any(
        re.fullmatch(r"[a-z][a-z0-9-]*", label) and not re.fullmatch(r"0x[0-9a-f]*", label)
        for label in host.split(".")
    )


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _public(mapped)
    return address.is_global and not address.is_multicast


def _refused(url: str, why: str) -> InvalidSpecError:
    return InvalidSpecError(
        f"repository URL {redact(url)!r} is refused: {why}. An administrator can allow"
        " the host with GITOPS_ALLOWED_GIT_HOSTS",
        reason="HostNotAllowed",
    )
