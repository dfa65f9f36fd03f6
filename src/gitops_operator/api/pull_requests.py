"""``GitRepository.spec.pullRequests`` (opt-in plans of pull requests) and the parts of
the ``Provider`` it names that a plan uses.

The Provider (``gitops-operator.dev/v1alpha1``, kind ``Provider``) is read as the API
server has it: ``spec.type`` (github, gitlab, gitea), ``spec.address`` (the repository's
web URL) and ``spec.secretRef.name`` (a Secret of the same namespace, key ``token``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidSpecError

PROVIDER_KIND = "Provider"
PROVIDER_TOKEN_KEY = "token"  # noqa: S105 - the name of a Secret key
HOST_TYPES = ("github", "gitlab", "gitea")
HostType = Literal["github", "gitlab", "gitea"]


@dataclass(frozen=True, slots=True)
class PullRequests:
    """Plan this repository's pull requests, posting through Provider ``provider``."""

    provider: str


@dataclass(frozen=True, slots=True)
class HostProvider:
    """What a plan needs of a Provider: where to post, and the Secret with the token."""

    type: HostType
    address: str
    secret_name: str


def parse_pull_requests(spec: dict[str, Any]) -> PullRequests | None:
    """The repository's ``spec.pullRequests`` when it is set and enabled, else None.
    Raises ``InvalidSpecError`` when it is set without a provider."""
    field = spec.get("pullRequests")
    if not isinstance(field, dict) or field.get("enabled", True) is False:
        return None
    name = (field.get("providerRef") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise InvalidSpecError(
            "spec.pullRequests.providerRef.name is required", reason="InvalidPullRequests"
        )
    return PullRequests(name)


def parse_host_provider(provider: dict[str, Any], where: str) -> HostProvider:
    """The Git host a Provider object names; ``InvalidSpecError`` when it names none."""
    spec = provider.get("spec") or {}
    kind = spec.get("type")
    if kind not in HOST_TYPES:
        raise InvalidSpecError(
            f"{where}: spec.type {kind!r} is not a Git host (one of {', '.join(HOST_TYPES)})",
            reason="ProviderNotAGitHost",
        )
    address = spec.get("address")
    if not isinstance(address, str) or not address.startswith(("http://", "https://")):
        raise InvalidSpecError(
            f"{where}: spec.address must be the repository's http(s) web URL",
            reason="ProviderNotAGitHost",
        )
    secret = (spec.get("secretRef") or {}).get("name")
    if not isinstance(secret, str) or not secret:
        raise InvalidSpecError(
            f"{where}: spec.secretRef.name (key {PROVIDER_TOKEN_KEY}) is required to post",
            reason="ProviderNotAGitHost",
        )
    return HostProvider(kind, address, secret)
