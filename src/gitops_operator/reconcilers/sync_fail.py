"""SyncFail hooks: created when a revision fails (after the rollback's restore, if any),
then looked at one pass at a time while the revision stays quarantined, as the other
hooks are (``status.hooks``, so a restart resumes).

What they do is reported (Events, ``status.hooks``, the failed revision's history
message) and never changes the failure: the revision stays failed, rolled back or not,
whatever its SyncFail hooks do. One that fails is reported and not run again.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..api import status_fields
from ..errors import GitOpsError, HookFailedError
from ..history import MAX_MESSAGE
from ..hooks import HookPhase, HookState, of_phase, phase_state, record, recorded, summary
from .hooks import HOOK_POLL, hooks_of, run_phase
from .outcome import Outcome
from .run import ApplicationRun


def start(run: ApplicationRun, failed: Outcome) -> Outcome:
    """``failed`` (the outcome of ``run.revision``'s failure) with its SyncFail hooks
    created: added to ``status.hooks`` after the hooks that ran before the failure."""
    try:
        hooks = [h for h in hooks_of(run) if HookPhase.SYNC_FAIL in h.phases]
    except GitOpsError as exc:  # the failure was the render itself: there are none to run
        run.logger.info("no SyncFail hooks for %s: %s", run.revision, exc.message)
        return failed
    fresh = record(run.revision, hooks, (HookPhase.SYNC_FAIL,))
    if fresh is None:
        return failed
    before = recorded(run.status.get(status_fields.HOOKS), run.revision) or []
    before = [i for i in before if i["hook"] != HookPhase.SYNC_FAIL]
    return _look(run, [*before, *fresh["items"]], failed)


def resume(run: ApplicationRun, quarantined: Outcome) -> Outcome:
    """A pass of the quarantined ``run.revision``: ``quarantined`` with one more look at
    its SyncFail hooks while any is unfinished."""
    items = recorded(run.status.get(status_fields.HOOKS), run.revision)
    if items is None or phase_state(items, HookPhase.SYNC_FAIL) not in (
        HookState.PENDING,
        HookState.RUNNING,
    ):
        return quarantined
    return _look(run, items, quarantined)


def _look(run: ApplicationRun, items: list[dict[str, Any]], outcome: Outcome) -> Outcome:
    try:
        progress = run_phase(run, items, HookPhase.SYNC_FAIL, written=True)
        hooks, state = progress.record, progress.state
    except HookFailedError:  # reported by its Events and status.hooks, never retried
        hooks, state = run.status[status_fields.HOOKS], HookState.FAILED
    status: dict[str, Any] = {**outcome.status, status_fields.HOOKS: hooks}
    if state in (HookState.PENDING, HookState.RUNNING):
        return replace(outcome, status=status, requeue_after=min(outcome.requeue_after, HOOK_POLL))
    done = of_phase(hooks["items"], HookPhase.SYNC_FAIL)
    history = status.get(status_fields.HISTORY, run.status.get(status_fields.HISTORY))
    status[status_fields.HISTORY] = noted(list(history or []), run.revision, summary(done))
    return replace(outcome, status=status)


def noted(history: list[dict[str, Any]], revision: str, text: str) -> list[dict[str, Any]]:
    """``history`` with ``text`` added to the message of ``revision``'s newest entry."""
    for index, entry in enumerate(history):
        if entry.get("revision") == revision:
            message = "; ".join(filter(None, [str(entry.get("message") or ""), text]))
            history[index] = {**entry, "message": message[:MAX_MESSAGE]}
            break
    return history
