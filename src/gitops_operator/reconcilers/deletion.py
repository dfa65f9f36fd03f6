"""PreDelete hooks: when an Application is deleted, the PreDelete hooks of its last
applied revision run before its inventory is deleted, one look per call (the finalizer's
handler calls again while they run, so no worker waits; ``status.hooks`` keeps where they
are). A failed one stops the deletion: the finalizer stays, Ready=False with reason
PreDeleteHookFailed, until a retryAt annotation runs it again (or the finalizer is
removed by hand).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .. import inventory
from ..api import RETRY_ANNOTATION, parse_application_spec, sha_of, status_fields
from ..api.destination import parse_destination
from ..conditions import failed, progressing
from ..errors import GitOpsError, HookFailedError
from ..hooks import HookPhase, HookState, of_phase, record, recorded, rerun_failed
from .application import ApplicationReconciler
from .hooks import HOOK_POLL, run_phase, write_record
from .outcome import Event, Outcome
from .run import ApplicationRun, Logger, StatusWriter

_NOTHING = Outcome({}, [], 0.0, clear=(), observed=False)
FAILED_RECHECK = 30.0
"""Seconds between looks at a deletion stopped by a failed PreDelete hook (for retryAt)."""


def pre_delete(
    apps: ApplicationReconciler,
    obj: dict[str, Any],
    *,
    write_status: StatusWriter,
    now: str,
    logger: Logger,
) -> tuple[bool, Outcome]:
    """Whether the inventory may be deleted now (no PreDelete hooks, or they all
    succeeded), and the outcome to write: the hooks' Events; while they run, Reconciling;
    after one failed, Ready=False and Stalled=True with reason PreDeleteHookFailed."""
    status = dict(obj.get("status") or {})
    revision = str(status.get(status_fields.LAST_APPLIED_REVISION) or "")
    if not revision:
        return True, _NOTHING
    namespace = str(obj["metadata"]["namespace"])
    spec = parse_application_spec(obj.get("spec") or {}, namespace)
    run = ApplicationRun(
        obj,
        spec,
        status,
        now,
        write_status,
        logger,
        apps.manager_for(namespace, spec.service_account, parse_destination(obj.get("spec") or {})),
        inventory=inventory.from_status(status),
    )
    items = recorded(status.get(status_fields.HOOKS), revision)
    if items is None or not of_phase(items, HookPhase.PRE_DELETE):
        try:
            hooks = _hooks_of(apps, run, revision)
        except GitOpsError as exc:
            # nothing says which hooks the revision has: the deletion goes on, reported
            message = f"PreDelete hooks of {revision} not run: {exc.message}"
            logger.warning("%s", message)
            run.notes.append(("PreDeleteHooksUnknown", message, True))
            return True, _with_notes(run, _NOTHING)
        fresh = record(revision, hooks, (HookPhase.PRE_DELETE,))
        if fresh is None:
            return True, _NOTHING
        items = fresh["items"]
    run.revision = revision
    run.render_hooks = lambda: _hooks_of(apps, run, revision)
    retry_at = run.annotation(RETRY_ANNOTATION)
    if retry_at:
        items = rerun_failed(items, HookPhase.PRE_DELETE, retry_at)
    failed_before = any(i["phase"] == HookState.FAILED for i in items)
    try:
        progress = run_phase(run, items, HookPhase.PRE_DELETE, written=True)
    except HookFailedError as exc:
        message = f"{exc.message}; the Application and its objects are kept: {_HINT}"
        events = [] if failed_before else [Event("PreDeleteHookFailed", message, warning=True)]
        outcome = Outcome(
            {status_fields.HOOKS: run.status[status_fields.HOOKS]},
            failed("PreDeleteHookFailed", message, stalled=True),
            FAILED_RECHECK,
            events,
        )
        return False, _with_notes(run, outcome)
    write_record(run, progress.record)
    if progress.state is HookState.SUCCEEDED:
        return True, _with_notes(run, _NOTHING)
    message = (
        f"deleting: waiting for the PreDelete hooks of {revision} before the inventory:"
        f" {progress.waiting_for}"
    )
    return False, _with_notes(
        run, Outcome({status_fields.HOOKS: progress.record}, progressing(message), HOOK_POLL)
    )


_HINT = (
    "retry with the gitops-operator.dev/retryAt annotation, or remove the finalizer"
    " to delete the Application and leave its objects"
)


def _hooks_of(apps: ApplicationReconciler, run: ApplicationRun, revision: str) -> list[Any]:
    """The hooks of ``revision`` rendered from its commit with the Application's spec."""
    apps.load_post_build(run)
    apps.fetch_source(run)
    artifact = apps.artifact(run.spec.source.namespace, run.repo_spec, sha_of(revision))
    return [h for h in apps.rendered(run, artifact)[1] if HookPhase.PRE_DELETE in h.phases]


def _with_notes(run: ApplicationRun, outcome: Outcome) -> Outcome:
    """The outcome with the hooks' Events (started, succeeded, failed) first."""
    notes = [Event(reason, message, warning) for reason, message, warning in run.notes]
    return replace(outcome, events=[*notes, *outcome.events])
