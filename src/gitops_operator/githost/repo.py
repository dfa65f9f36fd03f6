"""Which Git host API serves a repository, from its web address the way a Provider names
it (Flux's ``spec.address``): ``https://github.com/org/app``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, cast, get_args
from urllib.parse import urlsplit

from gitops_operator.errors import GitHostError

HostKind = Literal["github", "gitlab", "gitea"]
CommitState = Literal["pending", "success", "failure", "error"]

HOST_KINDS: tuple[str, ...] = get_args(HostKind)


@dataclass(frozen=True)
class HostRepo:
    """One repository on a Git host: where its REST API is, its project path and the
    token that authenticates (never shown by ``repr``)."""

    kind: HostKind
    api_url: str
    """The API's base URL, no trailing slash: ``https://api.github.com``,
    ``https://gitlab.example/api/v4``, ``https://gitea.example/api/v1``."""
    project: str
    """``owner/name``; on GitLab the full project path (``group/sub/name``)."""
    token: str = field(repr=False)

    @property
    def web_url(self) -> str:
        """The repository's page (for links in messages)."""
        if self.kind == "github" and self.api_url == "https://api.github.com":
            return f"https://github.com/{self.project}"
        base = self.api_url.rsplit("/api/", 1)[0]
        return f"{base}/{self.project}"


@dataclass(frozen=True)
class PullRequest:
    """A pull (GitLab: merge) request: the number the host gave it and its page."""

    number: int
    url: str


def host_repo(kind: str, address: str, token: str) -> HostRepo:
    """The API of the repository at ``address`` on a host of ``kind``.

    GitHub's own ``github.com`` is served by ``api.github.com``; any other GitHub host is
    an Enterprise server (``/api/v3``). GitLab serves ``/api/v4``, Gitea and Forgejo
    ``/api/v1``. A trailing ``.git`` or ``/`` is dropped; the scheme and port are kept.
    """
    if kind not in HOST_KINDS:
        raise GitHostError(f"unknown Git host type {kind!r} (one of {', '.join(HOST_KINDS)})")
    parts = urlsplit(address.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GitHostError(f"the address {address!r} is not an http(s) URL of a repository")
    if parts.username or parts.password:
        raise GitHostError("the address must not carry credentials: the token comes from a Secret")
    path = parts.path.strip("/")
    path = path.removesuffix(".git")
    segments = [s for s in path.split("/") if s]
    if len(segments) < 2 or (kind != "gitlab" and len(segments) != 2):
        shape = "group/…/name" if kind == "gitlab" else "owner/name"
        raise GitHostError(f"the address {address!r} does not name a repository ({shape})")
    if not token:
        raise GitHostError("no token to authenticate to the Git host")
    origin = f"{parts.scheme}://{parts.netloc}"
    if kind == "github":
        api = "https://api.github.com" if parts.netloc == "github.com" else f"{origin}/api/v3"
    elif kind == "gitlab":
        api = f"{origin}/api/v4"
    else:
        api = f"{origin}/api/v1"
    return HostRepo(kind=cast(HostKind, kind), api_url=api, project="/".join(segments), token=token)
