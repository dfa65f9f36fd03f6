"""Hooks: objects run at a point of a sync instead of applied with it, never inventoried.

An object is a hook when it carries ``gitops-operator.dev/hook``, else Argo CD's
``argocd.argoproj.io/hook``, else Helm's ``helm.sh/hook`` (comma-separated). PreSync hooks
run after the whole revision passed its dry-run and before anything of it is written;
Sync hooks are created once they have succeeded, with the first write; PostSync hooks run
once every wave is healthy and every Sync hook has succeeded; SyncFail hooks once the
revision has failed (after its rollback, if any); PreDelete hooks of the last applied
revision when the Application is deleted, before its inventory is. A hook is done when it is
healthy (a Job: Complete) and has failed when it is Degraded (a Job: Failed), gone, or
not done within the Application's healthTimeout. Helm's ``pre-install``/``pre-upgrade`` are PreSync,
``post-install``/``post-upgrade`` PostSync; ``test`` hooks are left out, as Argo CD does;
``crd-install`` is an ordinary object. Other hook types are refused before any write.

Delete policies (``*/hook-delete-policy``, comma-separated; Helm's in kebab case):
BeforeHookCreation (the default when none is given, as in Argo CD and Helm) deletes an
existing object of the same name before the hook is created; HookSucceeded and HookFailed
delete the hook once it has succeeded or failed.

``status.hooks`` records the hooks of the revision being synced (``record``); each pass
reads it back (``resumable``) so a wait holds no worker and a restart resumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .api import (
    ARGO_HOOK_ANNOTATION,
    ARGO_HOOK_DELETE_POLICY_ANNOTATION,
    HELM_HOOK_ANNOTATION,
    HELM_HOOK_DELETE_POLICY_ANNOTATION,
    HOOK_ANNOTATION,
    HOOK_DELETE_POLICY_ANNOTATION,
)
from .errors import SyncAnnotationError
from .health import Health, HealthStatus
from .objects import Manifest, ObjectRef, group_of

_MAX_LISTED = 5


class HookPhase(StrEnum):
    """In the order they run."""

    PRE_SYNC = "PreSync"
    SYNC = "Sync"
    POST_SYNC = "PostSync"
    SYNC_FAIL = "SyncFail"
    """Only when the revision has failed (``reconcilers.sync_fail``), after any rollback."""
    PRE_DELETE = "PreDelete"
    """Only when the Application is deleted, before its inventory (``reconcilers.deletion``)."""


class DeletePolicy(StrEnum):
    BEFORE_HOOK_CREATION = "BeforeHookCreation"
    HOOK_SUCCEEDED = "HookSucceeded"
    HOOK_FAILED = "HookFailed"


class HookState(StrEnum):
    PENDING = "Pending"
    """Not created yet (or waiting for an older object of its name to go)."""
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


HOOK_ANNOTATIONS = (HOOK_ANNOTATION, ARGO_HOOK_ANNOTATION, HELM_HOOK_ANNOTATION)
"""Where a hook is read, in precedence order."""
DELETE_POLICY_ANNOTATIONS = (
    HOOK_DELETE_POLICY_ANNOTATION,
    ARGO_HOOK_DELETE_POLICY_ANNOTATION,
    HELM_HOOK_DELETE_POLICY_ANNOTATION,
)
PHASES = {
    "PreSync": HookPhase.PRE_SYNC,
    "Sync": HookPhase.SYNC,
    "PostSync": HookPhase.POST_SYNC,
    "SyncFail": HookPhase.SYNC_FAIL,
    "PreDelete": HookPhase.PRE_DELETE,
    "pre-install": HookPhase.PRE_SYNC,
    "pre-upgrade": HookPhase.PRE_SYNC,
    "post-install": HookPhase.POST_SYNC,
    "post-upgrade": HookPhase.POST_SYNC,
}
SKIPPED = frozenset({"Skip", "test", "test-success", "test-failure"})
"""Left out of the sync: Argo CD's Skip, Helm's test hooks (run by ``helm test`` only)."""
ORDINARY = frozenset({"crd-install"})
NOT_SUPPORTED = {
    "PostDelete": "PostDelete hooks are not supported yet",
    "pre-delete": "Helm pre-delete hooks are not supported yet",
    "post-delete": "Helm post-delete hooks are not supported yet",
    "pre-rollback": "Helm rollback hooks are not run (a rollback applies the last good"
    " revision's objects)",
    "post-rollback": "Helm rollback hooks are not run (a rollback applies the last good"
    " revision's objects)",
}
POLICIES = {
    "BeforeHookCreation": DeletePolicy.BEFORE_HOOK_CREATION,
    "HookSucceeded": DeletePolicy.HOOK_SUCCEEDED,
    "HookFailed": DeletePolicy.HOOK_FAILED,
    "before-hook-creation": DeletePolicy.BEFORE_HOOK_CREATION,
    "hook-succeeded": DeletePolicy.HOOK_SUCCEEDED,
    "hook-failed": DeletePolicy.HOOK_FAILED,
}


@dataclass(frozen=True, slots=True)
class Hook:
    manifest: Manifest
    phases: tuple[HookPhase, ...]
    delete_policies: frozenset[DeletePolicy]


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def _values(annotations: Mapping[str, Any], keys: Iterable[str]) -> tuple[str, list[str]] | None:
    for key in keys:
        if key in annotations:
            return key, [v.strip() for v in str(annotations[key]).split(",") if v.strip()]
    return None


def classify(obj: Mapping[str, Any]) -> Hook | str | None:
    """What an object's hook annotations make of it: None (an ordinary object),
    ``"skip"`` (left out of the sync), a ``Hook``, or why it is refused (any other
    string)."""
    annotations = _annotations(obj)
    declared = _values(annotations, HOOK_ANNOTATIONS)
    if declared is None:
        return None
    key, values = declared
    if not values or all(v in ORDINARY for v in values):
        return None
    if any(v in SKIPPED for v in values):
        return "skip"
    for v in values:
        if v not in PHASES:
            why = NOT_SUPPORTED.get(v, "unknown hook type")
            return f"{key}={str(annotations[key])[:40]!r}: {why}"
    policies = _values(annotations, DELETE_POLICY_ANNOTATIONS)
    chosen: set[DeletePolicy] = set()
    for p in policies[1] if policies else []:
        if p not in POLICIES:
            return f"{policies[0] if policies else ''}={p[:40]!r}: unknown hook delete policy"
        chosen.add(POLICIES[p])
    phases = tuple(dict.fromkeys(PHASES[v] for v in values if v in PHASES))
    return Hook(
        Manifest(dict(obj), ""),
        phases,
        frozenset(chosen or {DeletePolicy.BEFORE_HOOK_CREATION}),
    )


def split_hooks(manifests: Iterable[Manifest]) -> tuple[list[Manifest], list[Hook]]:
    """The ordinary manifests and the hooks (test and Skip hooks left out). Raises one
    ``SyncAnnotationError`` (reason HooksNotSupported) naming every hook that cannot run."""
    ordinary: list[Manifest] = []
    hooks: list[Hook] = []
    refused: list[str] = []
    for m in manifests:
        found = classify(m.obj)
        if found is None:
            ordinary.append(m)
        elif isinstance(found, Hook):
            hooks.append(Hook(m, found.phases, found.delete_policies))
        elif found != "skip":
            refused.append(f"{m.ref} ({m.source}): {found}")
    if refused:
        more = f"; and {len(refused) - _MAX_LISTED} more" if len(refused) > _MAX_LISTED else ""
        raise SyncAnnotationError(
            "nothing applied; " + "; ".join(refused[:_MAX_LISTED]) + more,
            reason="HooksNotSupported",
        )
    return ordinary, hooks


def hook_state(live: Mapping[str, Any] | None, health: Health) -> tuple[HookState, str]:
    """Where a running hook is, from its live object and that object's health."""
    if live is None:
        return HookState.FAILED, "deleted before it completed"
    if health.status is HealthStatus.HEALTHY:
        return HookState.SUCCEEDED, health.message or "completed"
    if health.status is HealthStatus.DEGRADED:
        return HookState.FAILED, health.message or "failed"
    return HookState.RUNNING, health.message


def deleted_after(policies: Iterable[str], state: HookState) -> bool:
    """Whether a finished hook is deleted now, by its delete policies."""
    wanted = {HookState.SUCCEEDED: "HookSucceeded", HookState.FAILED: "HookFailed"}.get(state)
    return wanted is not None and wanted in set(policies)


# -- status.hooks ---------------------------------------------------------------------


def item_ref(item: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(
        group_of(str(item["apiVersion"])),
        str(item["kind"]),
        str(item.get("namespace") or ""),
        str(item["name"]),
    )


def describe(item: Mapping[str, Any]) -> str:
    return f"{item['hook']} hook {item_ref(item)}"


SYNC_PHASES = (HookPhase.PRE_SYNC, HookPhase.SYNC, HookPhase.POST_SYNC)


def record(
    revision: str, hooks: Iterable[Hook], phases: Iterable[HookPhase] = SYNC_PHASES
) -> dict[str, Any] | None:
    """``status.hooks`` for a revision whose hooks have not started: every hook of
    ``phases``, Pending, once per phase it runs in; None when the revision has none."""
    items = [
        {
            "apiVersion": h.manifest.api_version,
            "kind": h.manifest.ref.kind,
            "namespace": h.manifest.ref.namespace,
            "name": h.manifest.ref.name,
            "hook": phase.value,
            "phase": HookState.PENDING.value,
            "deletePolicy": ",".join(sorted(p.value for p in h.delete_policies)),
        }
        for phase in phases
        for h in hooks
        if phase in h.phases
    ]
    return {"revision": revision, "items": items} if items else None


_ITEM_FIELDS = ("apiVersion", "kind", "name", "hook", "phase")


def resumable(stored: Any, revision: str) -> list[dict[str, Any]] | None:
    """The hook items of ``revision`` read back from ``status.hooks``, when its sync is
    under way: None when the record is of another revision, malformed, or has a failed
    hook (a failed revision is synced again only on request, and its hooks run again).
    SyncFail hooks do not count: what they did never changes the revision's outcome, and
    a revision healthy late still runs its Sync and PostSync hooks."""
    items = recorded(stored, revision)
    if items is None or any(
        i["phase"] == HookState.FAILED and i["hook"] != HookPhase.SYNC_FAIL for i in items
    ):
        return None
    return items


def recorded(stored: Any, revision: str) -> list[dict[str, Any]] | None:
    """The hook items of ``revision`` in ``status.hooks``, whatever their state; None when
    the record is of another revision or malformed."""
    if not isinstance(stored, dict) or stored.get("revision") != revision:
        return None
    items = stored.get("items")
    if not isinstance(items, list) or not items:
        return None
    for item in items:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(f), str) and item.get(f) for f in _ITEM_FIELDS
        ):
            return None
        if item["hook"] not in set(HookPhase) or item["phase"] not in set(HookState):
            return None
    return [dict(item) for item in items]


def of_phase(items: Iterable[Mapping[str, Any]], phase: HookPhase) -> list[Mapping[str, Any]]:
    return [i for i in items if i.get("hook") == phase.value]


def phase_state(items: Iterable[Mapping[str, Any]], phase: HookPhase) -> HookState:
    """Failed if any hook of ``phase`` failed; Succeeded when they all did (or there are
    none); Pending while none has started; else Running."""
    states = [HookState(str(i["phase"])) for i in of_phase(items, phase)]
    if HookState.FAILED in states:
        return HookState.FAILED
    if all(s is HookState.SUCCEEDED for s in states):
        return HookState.SUCCEEDED
    if all(s is HookState.PENDING for s in states):
        return HookState.PENDING
    return HookState.RUNNING


def summary(items: Iterable[Mapping[str, Any]]) -> str:
    """``PreSync Job/migrate Succeeded, PostSync Job/smoke Failed``: for history."""
    return ", ".join(f"{i['hook']} {i['kind']}/{i['name']} {i['phase']}" for i in items)


def rerun_failed(
    items: Iterable[Mapping[str, Any]], phase: HookPhase, requested_at: str
) -> list[dict[str, Any]]:
    """``items`` with the failed hooks of ``phase`` Pending again when a retry was
    requested (``requested_at``, RFC 3339) after they failed."""
    return [
        {**i, "phase": HookState.PENDING.value, "message": "retried"}
        if i.get("hook") == phase.value
        and i.get("phase") == HookState.FAILED
        and requested_at > str(i.get("finishedAt") or "")
        else dict(i)
        for i in items
    ]
