"""Roll an Application back to its last good revision after a revision failed.

The last good revision's rendered manifests come from its snapshot (no Git, no renderer
needed), else from a re-render of its commit (the injected ``desired``). Whatever the
failed revision added is pruned; the failed revision is quarantined either way. Whether
to roll back at all is ``decisions.should_roll_back``'s business, not this module's.
"""

from __future__ import annotations

from typing import Any

from ..api import ROLLBACK_TO_ANNOTATION, sha_of, status_fields
from ..conditions import ConditionType, ConditionUpdate, failed
from ..errors import GitOpsError
from ..history import Entry, SyncResult, record
from ..manager import ChangeSet
from ..metrics import count_rollback
from .apply import apply_and_prune
from .outcome import Event, Outcome, counts, counts_of, counts_patch, quarantine
from .run import ApplicationRun, DesiredFn

ROLLBACK_RECHECK = 5.0
"""Seconds until the health of the restored revision is assessed."""


def find_revision(status: dict[str, Any], wanted: str) -> str | None:
    """The revision of history (or lastGoodRevision) that ``wanted`` names, by revision
    string or by (a prefix of at least 7 characters of) its SHA."""
    known = [str(h.get("revision", "")) for h in status.get(status_fields.HISTORY) or []]
    known += [str(h.get("rolledBackTo", "")) for h in status.get(status_fields.HISTORY) or []]
    known.append(str(status.get(status_fields.LAST_GOOD_REVISION) or ""))
    for revision in filter(None, known):
        if wanted == revision or (len(wanted) >= 7 and sha_of(revision).startswith(wanted)):
            return revision
    return None


def failure_message(revision: str, error: GitOpsError) -> str:
    """``revision X failed (Reason): detail``, naming the revision once."""
    detail = error.message
    prefix = f"revision {revision} "
    if detail.startswith(prefix):
        return f"revision {revision} failed ({error.reason}): it {detail.removeprefix(prefix)}"
    return f"revision {revision} failed ({error.reason}): {detail}"


class Rollback:
    """Replace the source's revision with an earlier one and hold it there."""

    def __init__(self, run: ApplicationRun, desired: DesiredFn) -> None:
        self.run = run
        self.desired = desired

    def to_last_good(self, error: GitOpsError) -> Outcome:
        """Restore ``lastGoodRevision`` after ``error`` failed the source's revision.

        Sets ``lastAppliedRevision`` (the good one), ``lastAppliedAt``,
        ``lastAppliedChanges`` (the rollback's), ``failedRevision``, ``failedGeneration``,
        a RolledBack history entry; Ready=False and RolledBack=True with the error's
        reason; a Warning Event. If the restore itself fails, the revision is only
        quarantined (reason RollbackFailed)."""
        run = self.run
        good = str(run.status.get(status_fields.LAST_GOOD_REVISION) or "")
        note = ""
        try:
            changes, prune_error = self.restore(good)
        except GitOpsError as exc:
            failure = GitOpsError(
                f"{error.message}; rollback to {good} failed: {exc.message}",
                reason="RollbackFailed",
            )
            return quarantine(run, failure)
        if prune_error is not None:
            note = f" ({prune_error.message}; they stay in the inventory)"
        count_rollback(run.namespace, run.name, error.reason)
        message = f"{failure_message(run.revision, error)}; rolled back to {good}{note}"
        status = self.rolled_back_status(
            good,
            changes,
            started=run.status.get(status_fields.LAST_APPLIED_AT) or run.now,
            message=error.message,
            failed_changes=self.failed_changes(),
        )
        status.update(run.handled_retry())
        conditions = [
            ConditionUpdate(ConditionType.READY, False, error.reason, message),
            ConditionUpdate(ConditionType.ROLLED_BACK, True, error.reason, message),
        ]
        return Outcome(
            status,
            conditions,
            ROLLBACK_RECHECK,
            [Event("RolledBack", message, warning=True, revision=run.revision)],
        )

    def manual(self, wanted: str, requested_at: str) -> Outcome:
        """Roll back to ``wanted`` by request (the rollbackAt and rollbackTo annotations);
        the source's current revision is held, as a failed one is, until a new commit or
        retryAt.

        Sets what ``to_last_good`` sets, ``lastHandledRollbackAt`` (the request answered)
        and ``lastHandledRollbackTo``; Ready=True and RolledBack=True, reason
        ManualRollback. A ``wanted`` that names no revision of history changes nothing:
        Ready=False, Stalled=True, reason UnknownRevision."""
        run = self.run
        handled = {
            status_fields.LAST_HANDLED_ROLLBACK_AT: requested_at,
            status_fields.LAST_HANDLED_ROLLBACK_TO: wanted,
        }
        target = find_revision(run.status, wanted)
        if target is None:
            # Marked as handled, so that the bad value is reported once, not retried.
            message = (
                f"{ROLLBACK_TO_ANNOTATION}={wanted!r} names no revision of"
                " status.history; nothing changed"
            )
            return Outcome(
                handled,
                failed("UnknownRevision", message, stalled=True),
                run.spec.interval,
                [Event("UnknownRevision", message, warning=True)],
            )
        changes, prune_error = self.restore(target)
        note = f" ({prune_error.message})" if prune_error is not None else ""
        message = (
            f"rolled back to {target} by request; {run.revision} is held until a new"
            f" commit or a retryAt annotation{note}"
        )
        status = self.rolled_back_status(
            target, changes, started=run.now, message="manual rollback", failed_changes={}
        )
        status.update(handled)
        conditions = [
            ConditionUpdate(ConditionType.READY, True, "ManualRollback", message),
            ConditionUpdate(ConditionType.ROLLED_BACK, True, "ManualRollback", message),
        ]
        return Outcome(status, conditions, ROLLBACK_RECHECK, [Event("RolledBack", message)])

    def failed_changes(self) -> dict[str, int]:
        """What the failed revision itself changed: this pass's apply, or the counts kept
        in status when it was applied in an earlier pass."""
        run = self.run
        if run.changes.entries:
            return counts(run.changes)
        if run.status.get(status_fields.LAST_APPLIED_REVISION) != run.revision:
            return {}  # refused before its first write: it changed nothing
        return counts_of(run.status.get(status_fields.LAST_APPLIED_CHANGES))

    def rolled_back_status(
        self,
        target: str,
        changes: ChangeSet,
        *,
        started: str,
        message: str,
        failed_changes: dict[str, int],
    ) -> dict[str, Any]:
        """Status after ``target`` replaced the source's revision, which is now held. The
        history entry keeps apart what the failed revision changed (``changes``) and what
        the rollback did (``rollbackChanges``)."""
        run = self.run
        rollback_changes = counts(changes)
        entry = Entry(
            run.revision,
            SyncResult.ROLLED_BACK,
            started,
            run.now,
            changes=failed_changes,
            message=message,
            rolled_back_to=target,
            rollback_changes=rollback_changes,
        )
        return {
            status_fields.SYNC: "OutOfSync",
            status_fields.LAST_APPLIED_REVISION: target,
            status_fields.LAST_APPLIED_AT: run.now,
            status_fields.HEALTHY_AT: None,
            status_fields.SYNC_WAVE: None,
            status_fields.LAST_APPLIED_CHANGES: counts_patch(rollback_changes),
            status_fields.FAILED_REVISION: run.revision,
            status_fields.FAILED_GENERATION: run.generation,
            status_fields.HISTORY: record(list(run.status.get(status_fields.HISTORY) or []), entry),
        }

    def restore(self, target: str) -> tuple[ChangeSet, GitOpsError | None]:
        """Apply ``target``'s manifests and prune what is not in them; what could not be
        deleted is returned with the changes, and stays in the inventory."""
        run = self.run
        manifests = self.desired(run, target)
        applied = apply_and_prune(run, manifests)
        run.manifests = manifests
        return applied.changes, applied.prune_error
