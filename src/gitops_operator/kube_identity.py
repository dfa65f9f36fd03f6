"""Who is asking: a bearer token checked with TokenReview, what that person may do
(SelfSubjectAccessReview, made as them), and Events that name them.

The web UI's own account only reviews tokens and records Events; everything else is
read and written as the person (``KubeClient.acting_as``), so RBAC decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from .errors import ApiError
from .kube import KubeClient
from .objects import KubeObject

K = TypeVar("K", bound=KubeClient)
AUTHENTICATION = "authentication.k8s.io/v1"
AUTHORIZATION = "authorization.k8s.io/v1"


@dataclass(frozen=True, slots=True)
class Identity:
    """A person as the API server knows them (TokenReview's ``status.user``)."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    def client(self, kube: K) -> K:
        """``kube`` acting as exactly this person."""
        return kube.acting_as(self.username, self.groups, dict(self.extra))


def identity_of(review_status: dict[str, Any]) -> Identity | None:
    """The person a TokenReview status names, or None when the token was not accepted."""
    if not review_status.get("authenticated"):
        return None
    user = review_status.get("user") or {}
    name = str(user.get("username") or "")
    if not name:
        return None
    extra = user.get("extra") or {}
    return Identity(
        username=name,
        uid=str(user.get("uid") or ""),
        groups=tuple(str(g) for g in user.get("groups") or []),
        extra=tuple(sorted((str(k), tuple(str(v) for v in vs or [])) for k, vs in extra.items())),
    )


def review_token(kube: KubeClient, token: str) -> Identity | None:
    """Ask the API server who ``token`` belongs to (as the UI's own account)."""
    review = {"apiVersion": AUTHENTICATION, "kind": "TokenReview", "spec": {"token": token}}
    answer = kube.create(review)
    return identity_of(answer.get("status") or {})


def may(
    kube: KubeClient,
    verb: str,
    group: str,
    resource: str,
    namespace: str,
    name: str = "",
) -> bool:
    """Whether the client's user (a client from ``Identity.client``) may ``verb`` it."""
    attributes = {"verb": verb, "group": group, "resource": resource, "namespace": namespace}
    if name:
        attributes["name"] = name
    review = {
        "apiVersion": AUTHORIZATION,
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    try:
        answer = kube.create(review)
    except ApiError:
        return False
    return bool((answer.get("status") or {}).get("allowed"))


def record_event(
    kube: KubeClient,
    target: KubeObject,
    reason: str,
    message: str,
    component: str,
) -> None:
    """A Normal Event on ``target`` (core/v1, as ``kubectl describe`` shows them)."""
    meta = target["metadata"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{meta['name']}.",
                "namespace": meta["namespace"],
            },
            "involvedObject": {
                "apiVersion": target.get("apiVersion", ""),
                "kind": target.get("kind", ""),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "type": "Normal",
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
    )
