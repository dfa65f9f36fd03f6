"""The sync path: apply the source's revision, then wait for it to become healthy.

Revision failures are raised, not handled here: ``application`` decides whether they roll
back (``decisions.should_roll_back``) or quarantine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .. import inventory
from ..api import sha_of
from ..conditions import ConditionType, ConditionUpdate, progressing, ready
from ..errors import HealthCheckError, StalledError
from ..health import HealthStatus, aggregate
from ..history import Entry, SyncResult, record
from ..metrics import count_changes
from ..objects import Manifest
from ..source import Artifact
from .apply import apply_and_prune
from .decisions import deletion_refusal, seconds_since
from .outcome import Event, Outcome, counts, counts_of, counts_patch, worst_object
from .run import ApplicationRun
from .snapshots import SnapshotStore

HEALTH_POLL = 2.0
"""Seconds between health assessments while a revision is Progressing."""
_ALL_TRANSIENT = (ConditionType.RECONCILING, ConditionType.STALLED, ConditionType.ROLLED_BACK)

RenderFn = Callable[[ApplicationRun, Artifact], list[Manifest]]


def sync(run: ApplicationRun, render: RenderFn, snapshots: SnapshotStore) -> Outcome:
    """Render, validate, apply and prune the source's revision, keep its snapshot, then
    assess its health (``check_health``).

    Sets ``lastAttemptedRevision`` at once and ``inventory`` before the first write; after
    the apply, ``drift`` (none) and Drifted=False for the revision applied. Raises
    ``DryRunError``, ``ApplyError``, ``StalledError`` (a refused prune) and
    ``HealthCheckError`` for the caller to route, and ``PruneError`` to be retried."""
    started = time.monotonic()
    if run.status.get("lastAttemptedRevision") != run.revision:
        run.write_status({"lastAttemptedRevision": run.revision})
    assert run.artifact is not None
    run.manifests = render(run, run.artifact)
    refuse_deletions(run)
    applied = apply_and_prune(run, run.manifests)
    run.changes = applied.changes
    if applied.prune_error is not None:
        raise applied.prune_error
    snapshots.save(
        run.obj,
        sha_of(run.revision),
        run.manifests,
        keep={sha_of(run.status.get("lastGoodRevision", ""))},
    )
    run.status["lastAppliedAt"] = run.now
    run.status["healthyAt"] = None
    run.logger.info(
        "applied %s in %.2fs: %s",
        run.revision,
        time.monotonic() - started,
        run.changes.summary() or "no objects",
    )
    outcome = check_health(run, snapshots, applied=True)
    # the apply made the live objects match the revision: an older drift result would
    # describe a revision that is no longer there
    return replace(
        outcome,
        status={"drift": None, **outcome.status},
        conditions=[
            *outcome.conditions,
            ConditionUpdate(
                ConditionType.DRIFTED, False, "NoDrift", f"live objects match {run.revision}"
            ),
        ],
    )


def refuse_deletions(run: ApplicationRun) -> None:
    """Raise ``StalledError`` (EmptyRender, TooManyDeletions), before any write, when the
    render may not prune what it would."""
    stale = inventory.stale(run.inventory, inventory.of_manifests(run.manifests))
    refusal = deletion_refusal(
        prune=run.spec.prune,
        stale=len(stale),
        rendered=len(run.manifests),
        allow_empty=run.spec.allow_empty,
        max_deletions=run.spec.max_deletions,
    )
    if refusal is None:
        return
    reason, why = refusal
    names = ", ".join(str(r) for r in sorted(stale)[:5]) + (", ..." if len(stale) > 5 else "")
    raise StalledError(f"revision {run.revision} {why} ({names})", reason=reason)


def check_health(
    run: ApplicationRun, snapshots: SnapshotStore, *, applied: bool = False
) -> Outcome:
    """Healthy: the health check is over (``succeeded``). Progressing: look again in
    ``HEALTH_POLL`` seconds, until ``healthTimeout`` after the revision was applied
    (Ready=Unknown, Reconciling=True). Degraded or timed out: raises
    ``HealthCheckError``, after writing ``health`` and the applied revision.

    Sets ``sync``, ``health``, ``lastAppliedRevision``, ``lastAppliedAt`` and
    ``lastAppliedChanges``."""
    results = run.manager.assess(run.inventory)
    overall = aggregate(h.status for _, h in results)
    status: dict[str, Any] = {
        "sync": "Synced",
        "health": overall.value,
        "lastAppliedRevision": run.revision,
        "lastAppliedAt": run.status.get("lastAppliedAt", run.now),
        # kept for the history entry written when the revision turns healthy later
        "lastAppliedChanges": counts(run.changes)
        if applied
        else counts_of(run.status.get("lastAppliedChanges")),
    }
    if applied:
        status["healthyAt"] = None
    if overall is HealthStatus.HEALTHY:
        return succeeded(run, status, snapshots)
    waited = seconds_since(status["lastAppliedAt"], run.now)
    worst = worst_object(results, overall)
    if overall is HealthStatus.DEGRADED or waited >= run.spec.health_timeout:
        why = (
            "is Degraded"
            if overall is HealthStatus.DEGRADED
            else (f"did not become healthy within {run.spec.health_timeout:.0f}s")
        )
        if applied:
            run.write_status(_as_patch(status))
        raise HealthCheckError(f"revision {run.revision} {why}: {worst}")
    message = f"waiting for revision {run.revision} to become healthy: {worst}"
    return Outcome(
        _as_patch(status),
        progressing(message),
        HEALTH_POLL,
        [Event("Progressing", message)] if applied and run.changes.changed else [],
    )


def succeeded(run: ApplicationRun, status: dict[str, Any], snapshots: SnapshotStore) -> Outcome:
    """The applied revision turned healthy: its health check is over (``healthyAt``),
    a Succeeded history entry, Ready=True. It becomes ``lastGoodRevision`` now, or when
    its soak period ends (``drift.steady``)."""
    message = f"Applied revision: {run.revision}"
    entry = Entry(
        run.revision,
        SyncResult.SUCCEEDED,
        status["lastAppliedAt"],
        run.now,
        changes=status["lastAppliedChanges"],
    )
    history = record(list(run.status.get("history") or []), entry)
    count_changes(run.namespace, run.name, status["lastAppliedChanges"])
    soak = run.spec.rollback.soak_period
    previous_good = str(run.status.get("lastGoodRevision") or "")
    soaking = soak > 0 and previous_good not in ("", run.revision)
    promoted: dict[str, Any] = {}
    if soaking:
        snapshots.retain(run.obj, {sha_of(run.revision), sha_of(previous_good)})
        message += f" (healthy; soak period of {soak:.0f}s before it is the last good one)"
    else:
        snapshots.retain(run.obj, {sha_of(run.revision)})
        promoted["lastGoodRevision"] = run.revision
    events = [Event("ReconciliationSucceeded", f"{message} ({run.changes.summary() or 'healthy'})")]
    return Outcome(
        _as_patch(
            {
                **status,
                **promoted,
                "healthyAt": run.now,
                "lastAttemptedRevision": run.revision,
                "failedRevision": None,
                "failedGeneration": None,
                "history": history,
                **run.handled_retry(),
            }
        ),
        ready(message),
        min(run.spec.interval, run.spec.drift_interval, soak if soaking else float("inf")),
        events,
        clear=_ALL_TRANSIENT,
    )


def _as_patch(status: dict[str, Any]) -> dict[str, Any]:
    """``status`` with ``lastAppliedChanges`` as a patch that replaces the stored counts."""
    return {**status, "lastAppliedChanges": counts_patch(status["lastAppliedChanges"])}
