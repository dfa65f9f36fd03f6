"""Route verified push webhooks to the GitRepositories they concern.

Keeps an index of every GitRepository's normalised URL and ref (fed by the controller's
watch), answers which repositories a push triggers, and records the delivery in their
status. The HTTP side (signatures, limits) is ``webhook.py``.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .api import API_VERSION, GROUP, REPOSITORY_KIND, GitRef, RefKind, parse_ref
from .errors import GitOpsError
from .objects import ObjectRef
from .webhook import Provider, PushEvent, normalize_repo_url

Key = tuple[str, str]
SECRET_TTL = 10.0


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

    def patch_status(self, api_version: str, ref: ObjectRef, status: dict[str, Any]) -> None: ...


@dataclass
class PushRouter:
    kube: SecretsAndStatus
    secret_ref: str = ""
    """``namespace/name`` of the Secret whose keys (github, gitlab, gitea, bitbucket) hold
    each receiver's secret."""
    _repos: dict[Key, tuple[str, GitRef]] = field(default_factory=dict)
    _secrets: dict[str, bytes] = field(default_factory=dict)
    _secrets_at: float = 0.0
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
        self._repos[key] = (normalize_repo_url(str(spec["url"])), ref)

    def match(self, event: PushEvent) -> list[Key]:
        return sorted(
            key
            for key, (url, ref) in self._repos.items()
            if url in event.urls and ref_matches(ref, event.ref)
        )

    def secret(self, provider: Provider) -> bytes | None:
        """The receiver secret of ``provider``, re-read at most every SECRET_TTL seconds."""
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

    def record(self, key: Key, event: PushEvent, now: str) -> None:
        """Write ``status.lastDelivery`` of a triggered repository."""
        ref = ObjectRef(GROUP, REPOSITORY_KIND, key[0], key[1])
        self.kube.patch_status(
            API_VERSION,
            ref,
            {
                "lastDelivery": {
                    "time": now,
                    "provider": event.provider.value,
                    "ref": event.ref,
                    "sha": event.sha,
                    "verified": True,
                    "triggered": True,
                }
            },
        )
