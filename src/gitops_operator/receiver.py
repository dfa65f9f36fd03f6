"""Route verified push (and pull-request) webhooks to the GitRepositories they concern.

Keeps an index of every GitRepository's normalised URL, ref and own webhook Secret (fed
by the controller's watch), answers which repositories a push triggers, and records the
delivery in their status; a pull request concerns the repositories of its URL that opt
in with ``spec.pullRequests`` (``match_pull_request``). The HTTP side (signatures,
limits, replays) is the ``webhook`` package.

Two kinds of secret, never both for one repository: a delivery to ``/hooks/<provider>``
is verified with the provider's shared secret and wakes the repositories without a
webhook Secret of their own; a delivery to ``/hooks/<provider>/<namespace>/<name>`` is
verified with that repository's ``spec.webhook.secretRef`` and wakes that repository
alone. So a tenant who knows the shared secret, or its own, cannot wake another's
repository that has its own.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .api import (
    API_VERSION,
    GROUP,
    REPOSITORY_KIND,
    WEBHOOK_TOKEN_KEY,
    GitRef,
    RefKind,
    parse_ref,
    status_fields,
    webhook_secret_name,
)
from .errors import GitOpsError
from .objects import ObjectRef
from .webhook import Provider, PullRequestEvent, PushEvent, Target, normalize_repo_url

Key = tuple[str, str]
SECRET_TTL = 10.0


@dataclass(frozen=True, slots=True)
class Tracked:
    url: str  # normalised
    ref: GitRef
    webhook_secret: str | None  # the name of its own webhook Secret
    pull_requests: bool = False  # spec.pullRequests is set and enabled


def ref_matches(ref: GitRef, pushed: str) -> bool:
    """Does a push of ``pushed`` (``refs/heads/x`` or ``refs/tags/y``) concern ``ref``?"""
    if ref.kind is RefKind.BRANCH and not ref.value:
        return pushed.startswith("refs/heads/")  # the default branch: its name is the remote's
    if ref.kind is RefKind.BRANCH:
        return pushed == f"refs/heads/{ref.value}"
    if ref.kind is RefKind.TAG:
        return pushed == f"refs/tags/{ref.value}"
    if ref.kind is RefKind.SEMVER:
        return pushed.startswith("refs/tags/")
    return False  # a pinned commit never moves


class SecretsAndStatus(Protocol):
    """What a router needs of the cluster (``KubeClient`` has both): read the receivers'
    Secret, and patch a GitRepository's status."""

    def get(self, api_version: str, ref: ObjectRef) -> dict[str, Any] | None: ...

    def patch_status(
        self, api_version: str, ref: ObjectRef, status: dict[str, Any]
    ) -> str | None: ...


@dataclass
class PushRouter:
    kube: SecretsAndStatus
    secret_ref: str = ""
    """``namespace/name`` of the Secret whose keys (github, gitlab, gitea, bitbucket) hold
    each receiver's secret."""
    _repos: dict[Key, Tracked] = field(default_factory=dict)
    _secrets: dict[str, bytes] = field(default_factory=dict)
    _secrets_at: float = 0.0
    _own: dict[Key, tuple[float, bytes | None]] = field(default_factory=dict)
    """(namespace, Secret name) -> (when read, its token) of repositories' own Secrets."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def track(self, key: Key, spec: dict[str, Any] | None) -> None:
        """Index (or, with None, forget) a GitRepository."""
        if spec is None or not spec.get("url"):
            self._repos.pop(key, None)
            return
        try:
            ref = parse_ref(spec.get("ref") or {})
        except GitOpsError:
            self._repos.pop(key, None)
            return
        url = normalize_repo_url(str(spec["url"]))
        plans = isinstance(spec.get("pullRequests"), dict) and (
            spec["pullRequests"].get("enabled", True) is not False
        )
        self._repos[key] = Tracked(url, ref, webhook_secret_name(spec), plans)

    def match(self, event: PushEvent, target: Target = None) -> list[Key]:
        """The repositories ``event`` wakes: with a ``target``, that repository (if it has
        its own secret, which verified the delivery); else those without their own."""
        return sorted(
            key
            for key, repo in self._repos.items()
            if (key == target if repo.webhook_secret else target is None)
            and repo.url in event.urls
            and ref_matches(repo.ref, event.ref)
        )

    def match_pull_request(self, event: PullRequestEvent, target: Target = None) -> list[Key]:
        """The repositories that plan ``event``'s pull request: those with
        ``spec.pullRequests`` whose URL it names, by the same secret rule as pushes."""
        return sorted(
            key
            for key, repo in self._repos.items()
            if (key == target if repo.webhook_secret else target is None)
            and repo.pull_requests
            and repo.url in event.urls
        )

    def secret(self, provider: Provider, target: Target = None) -> bytes | None:
        """The secret verifying a delivery: ``target``'s own webhook Secret's token, else the
        shared receiver secret of ``provider``; re-read at most every SECRET_TTL seconds."""
        if target is not None:
            return self._own_secret(target)
        if not self.secret_ref:
            return None
        with self._lock:
            if time.monotonic() - self._secrets_at > SECRET_TTL:
                namespace, _, name = self.secret_ref.partition("/")
                try:
                    secret = self.kube.get("v1", ObjectRef("", "Secret", namespace, name)) or {}
                except GitOpsError:
                    secret = {}
                self._secrets = {
                    k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()
                }
                self._secrets_at = time.monotonic()
            return self._secrets.get(provider.value)

    def _own_secret(self, target: Key) -> bytes | None:
        repo = self._repos.get(target)
        if repo is None or not repo.webhook_secret:
            return None  # the same answer whether the repository exists or not
        key = (target[0], repo.webhook_secret)
        with self._lock:
            read_at, token = self._own.get(key, (0.0, None))
            if time.monotonic() - read_at > SECRET_TTL:
                try:
                    ref = ObjectRef("", "Secret", key[0], key[1])
                    data = (self.kube.get("v1", ref) or {}).get("data") or {}
                except GitOpsError:
                    data = {}
                raw = data.get(WEBHOOK_TOKEN_KEY)
                token = base64.b64decode(raw) if raw else None
                self._own[key] = (time.monotonic(), token)
            return token

    def record(self, key: Key, event: PushEvent, now: str) -> None:
        """Write ``status.lastDelivery`` of a triggered repository: what was verified
        (who signed it, its ID, the ref it woke), never the payload's commit, which only
        the fetch may establish (``status.artifact``)."""
        ref = ObjectRef(GROUP, REPOSITORY_KIND, key[0], key[1])
        delivery = {
            "time": now,
            "provider": event.provider.value,
            "deliveryID": event.delivery or None,
            "ref": event.ref,
            "sha": None,  # written by earlier versions from the payload: removed
            "verified": True,
            "triggered": True,
        }
        self.kube.patch_status(API_VERSION, ref, {status_fields.LAST_DELIVERY: delivery})
