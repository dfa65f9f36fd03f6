"""Running a revision's hooks one pass at a time: create the hooks of a phase (an older
object of the same name deleted first, BeforeHookCreation), read the running ones, delete
finished ones by their policy. What each pass learns goes to ``status.hooks``, so a wait
holds no worker and a restarted operator resumes.

``pre_sync`` runs from the apply's ``before_write``: after the dry-run of the whole
revision, before its first write; it creates the Sync hooks once the PreSync ones
succeeded. ``sync.after_sync`` waits for the Sync hooks and runs the PostSync ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api import status_fields
from ..conditions import progressing
from ..errors import ApiError, HookFailedError
from ..health import assess
from ..hooks import (
    Hook,
    HookPhase,
    HookState,
    deleted_after,
    describe,
    hook_state,
    item_ref,
    of_phase,
    phase_state,
    record,
    resumable,
)
from ..objects import Manifest, ObjectRef
from .decisions import seconds_since
from .outcome import Event, Outcome
from .run import ApplicationRun

HOOK_POLL = 2.0
"""Seconds between looks at running hooks."""
_MAX_MESSAGE = 300


class PreSyncRunning(Exception):
    """Raised from ``before_write`` while PreSync hooks run: nothing is written this pass."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("PreSync hooks are running")
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class Progress:
    record: dict[str, Any]
    state: HookState
    waiting_for: str
    """The hooks still running (or waiting to be created), for messages."""


def hooks_of(run: ApplicationRun) -> list[Hook]:
    """The hooks of ``run.revision``, rendered once per pass at most."""
    if run.hooks is None:
        run.hooks = run.render_hooks() if run.render_hooks is not None else []
    return run.hooks


def write_record(run: ApplicationRun, hooks: dict[str, Any] | None) -> None:
    """Write ``status.hooks`` now, if it changes."""
    if run.status.get(status_fields.HOOKS) != hooks:
        run.write_status({status_fields.HOOKS: hooks})
        run.status[status_fields.HOOKS] = hooks


def pre_sync(run: ApplicationRun) -> None:
    """``before_write`` of a sync: record the revision's hooks, then run its PreSync
    hooks. Returns once they have all succeeded (or there are none), after creating the
    Sync hooks; raises ``PreSyncRunning`` while they run and ``HookFailedError`` when
    one failed."""
    items = resumable(run.status.get(status_fields.HOOKS), run.revision)
    if items is None:
        fresh = record(run.revision, hooks_of(run))
        write_record(run, fresh)
        if fresh is None:
            return
        items = fresh["items"]
    if phase_state(items, HookPhase.PRE_SYNC) is not HookState.SUCCEEDED:
        progress = run_phase(run, items, HookPhase.PRE_SYNC, written=False)
        write_record(run, progress.record)
        if progress.state is not HookState.SUCCEEDED:
            raise PreSyncRunning(waiting(run, progress, HookPhase.PRE_SYNC, {}))
        items = progress.record["items"]
    if phase_state(items, HookPhase.SYNC) is HookState.PENDING:
        write_record(run, run_phase(run, items, HookPhase.SYNC, written=False).record)


def waiting(
    run: ApplicationRun, progress: Progress, phase: HookPhase, status: dict[str, Any]
) -> Outcome:
    """A pass that waits for the hooks of ``phase``: Ready=Unknown, Reconciling=True."""
    message = f"waiting for the {phase} hooks of revision {run.revision}: {progress.waiting_for}"
    if phase is HookPhase.PRE_SYNC:
        message += "; nothing of the revision is applied yet"
    return Outcome(
        {**status, status_fields.HOOKS: progress.record}, progressing(message), HOOK_POLL
    )


def running_pre_sync(run: ApplicationRun) -> Outcome | None:
    """While the PreSync hooks of ``run.revision`` run, a pass only looks at them (no
    render, no dry-run): the outcome of waiting, or None once they all succeeded (the
    sync goes on) or none runs. Raises ``HookFailedError`` when one failed."""
    items = resumable(run.status.get(status_fields.HOOKS), run.revision)
    if items is None or phase_state(items, HookPhase.PRE_SYNC) is not HookState.RUNNING:
        return None
    progress = run_phase(run, items, HookPhase.PRE_SYNC, written=False)
    if progress.state is HookState.SUCCEEDED:
        write_record(run, progress.record)
        return None
    return waiting(run, progress, HookPhase.PRE_SYNC, {})


def run_phase(
    run: ApplicationRun, items: list[dict[str, Any]], phase: HookPhase, *, written: bool
) -> Progress:
    """One look at the hooks of ``phase``: create the Pending ones, read the running ones.
    Its Events go to ``run.notes``. Raises ``HookFailedError`` (``status.hooks`` written
    first; ``written``: whether objects of the revision were) when one failed."""
    items = [dict(i) for i in items]
    events: list[Event] = []
    manifests: dict[ObjectRef, Manifest] = {}
    if any(i["phase"] == HookState.PENDING for i in of_phase(items, phase)):
        manifests = {h.manifest.ref: h.manifest for h in hooks_of(run)}
    for item in items:
        if item["hook"] != phase.value:
            continue
        if item["phase"] == HookState.PENDING:
            events += _create(run, item, manifests.get(item_ref(item)))
        elif item["phase"] == HookState.RUNNING:
            events += _look(run, item)
    run.notes.extend((e.reason, e.message, e.warning) for e in events)
    hooks = {"revision": run.revision, "items": items}
    state = phase_state(items, phase)
    if state is HookState.FAILED:
        write_record(run, hooks)
        failed = next(i for i in of_phase(items, phase) if i["phase"] == HookState.FAILED)
        consequence = (
            ""
            if written
            else f"; nothing of revision {run.revision} was applied, so there is"
            " nothing to roll back"
        )
        raise HookFailedError(
            f"{describe(failed)} of revision {run.revision} failed: {failed.get('message', '')}"
            + consequence,
            written=written,
        )
    open_ = [
        f"{i['kind']}/{i['name']} ({i['phase']})"
        for i in of_phase(items, phase)
        if i["phase"] != HookState.SUCCEEDED
    ]
    return Progress(hooks, state, ", ".join(open_))


def _create(run: ApplicationRun, item: dict[str, Any], manifest: Manifest | None) -> list[Event]:
    ref = item_ref(item)
    if manifest is None:
        return _finish(run, item, HookState.FAILED, "no longer rendered by the revision")
    kube = run.manager.kube
    live = kube.get(str(item["apiVersion"]), ref)
    if live is not None and "BeforeHookCreation" in str(item.get("deletePolicy", "")):
        if not (live.get("metadata") or {}).get("deletionTimestamp"):
            kube.delete(str(item["apiVersion"]), ref)
        if kube.get(str(item["apiVersion"]), ref) is not None:
            item["message"] = f"waiting for the previous {ref} to be deleted (BeforeHookCreation)"
            return []
    try:
        created = kube.apply(manifest.obj)
    except ApiError as exc:
        return _finish(run, item, HookState.FAILED, f"could not be created: {exc.message}")
    item.update(
        phase=HookState.RUNNING.value,
        startedAt=run.now,
        uid=str((created.get("metadata") or {}).get("uid", "")),
        message="",
    )
    message = f"{describe(item)} of revision {run.revision} started"
    run.logger.info("%s", message)
    return [Event("HookStarted", message)]


def _look(run: ApplicationRun, item: dict[str, Any]) -> list[Event]:
    live = run.manager.kube.get(str(item["apiVersion"]), item_ref(item))
    uid = (live or {}).get("metadata", {}).get("uid")
    if live is not None and item.get("uid") and uid != item["uid"]:
        return _finish(run, item, HookState.FAILED, "replaced by another object of its name")
    state, message = hook_state(live, assess(live))
    timeout = run.spec.health_timeout
    if state is HookState.RUNNING and seconds_since(str(item["startedAt"]), run.now) >= timeout:
        state, message = HookState.FAILED, f"did not complete within {timeout:.0f}s ({message})"
    if state is HookState.RUNNING:
        item["message"] = message[:_MAX_MESSAGE]
        return []
    return _finish(run, item, state, message, present=live is not None)


def _finish(
    run: ApplicationRun,
    item: dict[str, Any],
    state: HookState,
    message: str,
    *,
    present: bool = False,
) -> list[Event]:
    item.update(phase=state.value, finishedAt=run.now, message=message[:_MAX_MESSAGE])
    policies = str(item.get("deletePolicy", "")).split(",")
    if present and deleted_after(policies, state):
        run.manager.kube.delete(str(item["apiVersion"]), item_ref(item))
        item["message"] += " (deleted by its delete policy)"
    text = f"{describe(item)} of revision {run.revision} {state.value.lower()}: {message}"
    run.logger.info("%s", text)
    if state is HookState.SUCCEEDED:
        return [Event("HookSucceeded", text)]
    return [Event("HookFailed", text, warning=True)]
