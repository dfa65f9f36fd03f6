"""Roll an Application back to its last good revision after a revision failed.

The last good revision's rendered manifests come from its snapshot (no Git, no renderer
needed), else from a re-render of its commit. Whatever the failed revision added is
pruned; the failed revision is quarantined either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import inventory
from ..api import ROLLBACK_TO_ANNOTATION, sha_of
from ..conditions import ConditionType, ConditionUpdate, failed
from ..errors import GitOpsError, HealthCheckError
from ..history import SyncResult, record
from ..manager import ChangeSet, PruneResult
from ..metrics import count_rollback
from .outcome import Event, Outcome, counts_patch

if TYPE_CHECKING:
    from .application import ApplicationReconciler, ApplicationRun

ROLLBACK_RECHECK = 5.0
"""Seconds until the health of the restored revision is assessed."""


def find_revision(status: dict[str, Any], wanted: str) -> str | None:
    """The revision of history (or lastGoodRevision) that ``wanted`` names, by revision
    string or by (a prefix of at least 7 characters of) its SHA."""
    known = [str(h.get("revision", "")) for h in status.get("history") or []]
    known += [str(h.get("rolledBackTo", "")) for h in status.get("history") or []]
    known.append(str(status.get("lastGoodRevision") or ""))
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
    def __init__(self, reconciler: ApplicationReconciler, run: ApplicationRun) -> None:
        self.reconciler = reconciler
        self.run = run

    def handle(self, error: GitOpsError) -> Outcome:
        """Roll back if the Application allows it and has a last good revision; otherwise
        quarantine the failed revision and leave the cluster as it is."""
        run, policy = self.run, self.run.spec.rollback
        good = str(run.status.get("lastGoodRevision") or "")
        on_health = isinstance(error, HealthCheckError)
        wanted = policy.enabled and (
            policy.on_health_failure if on_health else policy.on_apply_failure
        )
        if not wanted or not good or good == run.revision:
            return self.reconciler.failed(run, error)
        try:
            changes = self.restore(good)
        except GitOpsError as exc:
            failure = GitOpsError(
                f"{error.message}; rollback to {good} failed: {exc.message}",
                reason="RollbackFailed",
            )
            return self.reconciler.failed(run, failure)
        count_rollback(run.namespace, run.name, error.reason)
        message = f"{failure_message(run.revision, error)}; rolled back to {good}"
        status = self.rolled_back_status(
            good,
            changes,
            started=run.status.get("lastAppliedAt") or run.now,
            message=error.message[:1024],
            failed_changes=self.failed_changes(),
        )
        status.update(self.reconciler.handled_retry(run))
        conditions = [
            ConditionUpdate(ConditionType.READY, False, error.reason, message),
            ConditionUpdate(ConditionType.ROLLED_BACK, True, error.reason, message),
        ]
        return Outcome(
            status, conditions, ROLLBACK_RECHECK, [Event("RolledBack", message, warning=True)]
        )

    def manual(self, wanted: str) -> Outcome:
        """Roll back to ``wanted`` by request (the rollbackTo annotation); the source's
        current revision is held, as a failed one is, until a new commit or retryAt."""
        run = self.run
        target = find_revision(run.status, wanted)
        if target is None:
            # Marked as handled, so that the bad value is reported once, not retried.
            message = (
                f"{ROLLBACK_TO_ANNOTATION}={wanted!r} names no revision of"
                " status.history; nothing changed"
            )
            return Outcome(
                {"lastHandledRollbackTo": wanted},
                failed("UnknownRevision", message, stalled=True),
                run.spec.interval,
                [Event("UnknownRevision", message, warning=True)],
            )
        changes = self.restore(target)
        message = (
            f"rolled back to {target} by request; {run.revision} is held until a new"
            " commit or a retryAt annotation"
        )
        status = self.rolled_back_status(
            target, changes, started=run.now, message="manual rollback", failed_changes={}
        )
        status["lastHandledRollbackTo"] = wanted
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
            return {k: v for k, v in run.changes.counts().items() if v}
        if run.status.get("lastAppliedRevision") != run.revision:
            return {}  # refused before its first write: it changed nothing
        stored = run.status.get("lastAppliedChanges")
        if not isinstance(stored, dict):
            return {}
        return {str(k): v for k, v in stored.items() if isinstance(v, int) and v}

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
        rollback_changes = {k: v for k, v in changes.counts().items() if v}
        entry = {
            "revision": run.revision,
            "result": SyncResult.ROLLED_BACK.value,
            "startedAt": started,
            "finishedAt": run.now,
            "rolledBackTo": target,
            "message": message,
            "changes": failed_changes,
            "rollbackChanges": rollback_changes,
        }
        return {
            "sync": "OutOfSync",
            "lastAppliedRevision": target,
            "lastAppliedAt": run.now,
            "healthyAt": None,
            "lastAppliedChanges": counts_patch(rollback_changes),
            "failedRevision": run.revision,
            "failedGeneration": run.generation,
            "history": record(list(run.status.get("history") or []), entry),
        }

    def restore(self, good: str) -> ChangeSet:
        """Apply the good revision's manifests and prune what is not in them."""
        run, rec = self.run, self.reconciler
        manifests = rec.snapshots.load(run.obj, sha_of(good))
        if manifests is None:
            artifact = rec.artifact(run.spec.source.namespace, run.repo_spec, sha_of(good))
            manifests = rec.render(run, artifact)
        good_inventory = inventory.of_manifests(manifests)
        changes = run.manager.apply_all(
            manifests,
            ignore=run.spec.ignore_differences,
            before_write=lambda: run.record_inventory(
                inventory.union(run.inventory, good_inventory)
            ),
        )
        stale = inventory.stale(run.inventory, good_inventory) if run.spec.prune else {}
        pruned = run.manager.delete_all(stale) if stale else PruneResult()
        run.record_inventory(inventory.union(pruned.survivors, good_inventory))
        run.manifests = manifests
        return changes + pruned.changes
