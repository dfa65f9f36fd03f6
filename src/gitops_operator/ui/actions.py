"""The web UI's actions: each patches the Application as the person who asked (so the
API server refuses what RBAC does not allow), then, only once that succeeded, the UI's
own account records an Event naming them. The operator does the work, as it does for
the CLI's ``sync``, ``retry``, ``rollback``, ``suspend`` and ``resume``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..api import (
    API_VERSION,
    APPLICATION_KIND,
    GROUP,
    REQUESTED_AT_ANNOTATION,
    RETRY_ANNOTATION,
    ROLLBACK_AT_ANNOTATION,
    ROLLBACK_TO_ANNOTATION,
)
from ..errors import GitOpsError
from ..kube import KubeClient
from ..kube_identity import Identity, record_event
from ..objects import KubeObject, ObjectRef
from ..reconcilers.rollback import find_revision

COMPONENT = "gitops-operator-ui"


class Action(StrEnum):
    SYNC = "sync"
    RETRY = "retry"
    ROLLBACK = "rollback"
    SUSPEND = "suspend"
    RESUME = "resume"


REASONS = {
    Action.SYNC: "SyncRequested",
    Action.RETRY: "RetryRequested",
    Action.ROLLBACK: "RollbackRequested",
    Action.SUSPEND: "SuspendRequested",
    Action.RESUME: "ResumeRequested",
}


@dataclass(frozen=True, slots=True)
class Request:
    """What the person asked for; ``revision`` only for a rollback."""

    action: Action
    namespace: str
    name: str
    revision: str = ""


def patch_for(request: Request, app: KubeObject, stamp: str) -> dict[str, Any]:
    """The merge patch that asks the operator for ``request`` (pure)."""
    if request.action is Action.SYNC:
        return _annotate({REQUESTED_AT_ANNOTATION: stamp})
    if request.action is Action.RETRY:
        return _annotate({RETRY_ANNOTATION: stamp, REQUESTED_AT_ANNOTATION: stamp})
    if request.action is Action.ROLLBACK:
        target = find_revision(app.get("status") or {}, request.revision)
        if target is None:
            raise GitOpsError(
                f"{request.revision!r} is not a revision in the history of"
                f" {request.namespace}/{request.name}",
                reason="UnknownRevision",
            )
        return _annotate({ROLLBACK_TO_ANNOTATION: target, ROLLBACK_AT_ANNOTATION: stamp})
    return {"spec": {"suspend": request.action is Action.SUSPEND}}


def describe(request: Request, user: str) -> str:
    """The Event's message: what was asked, by whom, from where."""
    what = {
        Action.SYNC: "sync",
        Action.RETRY: "retry",
        Action.ROLLBACK: f"rollback to {request.revision}",
        Action.SUSPEND: "suspend",
        Action.RESUME: "resume",
    }[request.action]
    return f"{what} requested by {user} from the web UI"


def perform(person: KubeClient, own: KubeClient, identity: Identity, request: Request) -> str:
    """Patch as the person; on success, the Event (as the UI). Returns the Event's
    message. The person's refusal leaves as ``ApiError`` (403) and nothing is recorded."""
    ref = ObjectRef(GROUP, APPLICATION_KIND, request.namespace, request.name)
    app = person.get(API_VERSION, ref)
    if app is None:
        raise GitOpsError(
            f"Application {request.namespace}/{request.name} not found", reason="NotFound"
        )
    patched = person.patch(API_VERSION, ref, patch_for(request, app, now_stamp()))
    message = describe(request, identity.username)
    record_event(own, patched, REASONS[request.action], message, COMPONENT)
    return message


def now_stamp() -> str:
    """RFC 3339 with microseconds: two requests in one second still differ."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _annotate(annotations: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"annotations": annotations}}
