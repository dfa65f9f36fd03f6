"""The sync path: apply the source's revision, then wait for it to become healthy.

Revision failures are raised, not handled here: ``application`` decides whether they roll
back (``decisions.should_roll_back``) or quarantine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from .. import inventory
from ..api import sha_of, status_fields
from ..conditions import ConditionType, ConditionUpdate, progressing, ready
from ..errors import HealthCheckError, StalledError
from ..health import Health, HealthStatus, aggregate
from ..history import Entry, SyncResult, record
from ..hooks import Hook, HookPhase, HookState, of_phase, resumable, summary
from ..inventory import Inventory
from ..live import Live
from ..metrics import count_changes
from ..objects import KubeObject, Manifest, ObjectRef
from ..source import Artifact
from ..waves import Waves, waves_of
from .apply import apply_and_prune, apply_first_wave, apply_wave, prune
from .decisions import deletion_refusal, seconds_since, success_is_news, wave_in_progress
from .health_waits import Wait
from .hooks import PreSyncRunning, pre_sync, run_phase, running_pre_sync
from .hooks import waiting as hooks_waiting
from .outcome import Event, Outcome, added, counts, counts_of, counts_patch, worst_object
from .run import ApplicationRun, DesiredFn
from .snapshots import SnapshotStore

HEALTH_POLL = 2.0
"""Seconds between health assessments while a revision is Progressing."""
WATCHED_POLL = 15.0
"""The same when a watch follows every object not healthy yet (``health_watches``): it
wakes the Application when they are; this is the safety net."""
_ALL_TRANSIENT = (
    ConditionType.RECONCILING,
    ConditionType.STALLED,
    ConditionType.ROLLED_BACK,
    ConditionType.GIT_REVERTED,
)

RenderFn = Callable[[ApplicationRun, Artifact], tuple[list[Manifest], list[Hook]]]
"""The objects of a revision and its hooks, set apart."""


def sync(
    run: ApplicationRun, render: RenderFn, snapshots: SnapshotStore, desired: DesiredFn
) -> Outcome:
    """Render, validate, apply and prune the source's revision, keep its snapshot, then
    assess its health (``check_health``). A revision with sync waves writes its first
    wave only (with every CRD and Namespace); the others follow, each once the waves
    before it are healthy, and the prune comes after the last (``check_health``).

    Sets ``lastAttemptedRevision`` at once and ``inventory`` before the first write; after
    the apply, ``drift`` (none) and Drifted=False for the revision applied, ``syncWave``.
    PreSync hooks run after the dry-run and before the first write, one pass at a time
    (``hooks.pre_sync``): a pass while they run only looks at them.

    Raises ``SyncAnnotationError`` (a wave that is no integer), ``DryRunError``,
    ``ApplyError``, ``StalledError`` (a refused prune), ``HealthCheckError`` and
    ``HookFailedError`` for the caller to route, and ``PruneError`` to be retried."""
    started = time.monotonic()
    if run.status.get(status_fields.LAST_ATTEMPTED_REVISION) != run.revision:
        run.defer_status({status_fields.LAST_ATTEMPTED_REVISION: run.revision})
    if (waiting := running_pre_sync(run)) is not None:
        return waiting
    assert run.artifact is not None
    run.manifests, run.hooks = render(run, run.artifact)
    if run.inputs_changed:  # rendered with them: a later change of a source syncs again
        run.write_status({status_fields.POST_BUILD_INPUTS: run.substitution_inputs})
    waves = waves_of(run.manifests)
    refuse_deletions(run)
    try:
        if waves.single:
            applied = apply_and_prune(run, run.manifests, lambda: pre_sync(run))
            run.changes = applied.changes
            if applied.prune_error is not None:
                raise applied.prune_error
            run.status[status_fields.SYNC_WAVE] = None
        else:
            run.changes = apply_first_wave(run, run.manifests, waves, lambda: pre_sync(run))
            run.status[status_fields.SYNC_WAVE] = wave_record(run, waves, waves.first)
    except PreSyncRunning as running:
        return running.outcome
    snapshots.save(
        run.obj,
        sha_of(run.revision),
        run.manifests,
        keep={sha_of(run.status.get(status_fields.LAST_GOOD_REVISION, ""))},
    )
    run.status[status_fields.LAST_APPLIED_AT] = run.now
    run.status[status_fields.HEALTHY_AT] = None
    run.logger.info(
        "applied %s%s in %.2fs: %s",
        run.revision,
        "" if waves.single else f" (wave {waves.first})",
        time.monotonic() - started,
        run.changes.summary() or "no objects",
    )
    outcome = check_health(run, snapshots, desired, applied=True)
    # the apply made the live objects match the revision: an older drift result would
    # describe a revision that is no longer there
    return replace(
        outcome,
        status={status_fields.DRIFT: None, **outcome.status},
        conditions=[
            *outcome.conditions,
            ConditionUpdate(
                ConditionType.DRIFTED, False, "NoDrift", f"live objects match {run.revision}"
            ),
        ],
    )


def wave_record(run: ApplicationRun, waves: Waves, wave: int) -> dict[str, Any]:
    """``status.syncWave``: the wave of ``run.revision`` last applied, when, and how many
    are left; a restarted operator resumes from it."""
    return {
        "revision": run.revision,
        "wave": wave,
        "appliedAt": run.now,
        "remaining": waves.remaining(wave),
    }


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
    run: ApplicationRun,
    snapshots: SnapshotStore,
    desired: DesiredFn,
    *,
    applied: bool = False,
) -> Outcome:
    """Healthy: the health check is over (``succeeded``), or, while sync waves remain,
    the next wave is applied (``next_wave``). Progressing: look again in ``HEALTH_POLL``
    seconds, until ``healthTimeout`` after the revision (or its last wave) was applied
    (Ready=Unknown, Reconciling=True). Degraded or timed out: raises
    ``HealthCheckError``, after writing ``health`` and the applied revision.

    Sets ``sync``, ``health``, ``lastAppliedRevision``, ``lastAppliedAt`` and
    ``lastAppliedChanges``."""
    in_progress = wave_in_progress(run.status, run.revision)
    scope, waves = run.inventory, None
    if in_progress is not None:
        if not run.manifests:
            run.manifests = desired(run, run.revision)
        waves = waves_of(run.manifests)
        written = waves.applied_through(in_progress[0])
        scope = {ref: v for ref, v in run.inventory.items() if ref in written}
    wait = (
        run.revision,
        str(in_progress[1] if in_progress else run.status.get(status_fields.LAST_APPLIED_AT, "")),
    )
    results = assess_in_wait(run, scope, wait, run.seen if applied else {})
    overall = aggregate(h.status for _, h in results)
    status: dict[str, Any] = {
        status_fields.SYNC: "Synced" if waves is None else "OutOfSync",
        status_fields.HEALTH: overall.value,
        status_fields.LAST_APPLIED_REVISION: run.revision,
        status_fields.LAST_APPLIED_AT: run.status.get(status_fields.LAST_APPLIED_AT, run.now),
        # kept for the history entry written when the revision turns healthy later
        status_fields.LAST_APPLIED_CHANGES: counts(run.changes)
        if applied
        else counts_of(run.status.get(status_fields.LAST_APPLIED_CHANGES)),
    }
    if applied:
        status[status_fields.HEALTHY_AT] = None
        status[status_fields.SYNC_WAVE] = run.status.get(status_fields.SYNC_WAVE)
    if overall is HealthStatus.HEALTHY:
        if waves is not None and in_progress is not None:
            return next_wave(run, snapshots, waves, in_progress[0], status)
        return after_sync(run, status, snapshots)
    what = f"revision {run.revision}"
    started = status[status_fields.LAST_APPLIED_AT]
    if in_progress is not None:
        what, started = f"wave {in_progress[0]} of revision {run.revision}", in_progress[1]
    waited = seconds_since(started, run.now)
    worst = worst_object(results, overall)
    if overall is HealthStatus.DEGRADED or waited >= run.spec.health_timeout:
        why = (
            "is Degraded"
            if overall is HealthStatus.DEGRADED
            else (f"did not become healthy within {run.spec.health_timeout:.0f}s")
        )
        if applied:
            run.write_status(_as_patch(status))
        if run.health_watch is not None:  # a new apply, if any, expects anew
            run.health_watch.forget(run.key)
        raise HealthCheckError(f"{what} {why}: {worst}")
    message = f"waiting for {what} to become healthy: {worst}"
    return Outcome(
        _as_patch(status),
        progressing(message),
        HEALTH_POLL if applied else poll_after(run, results, run.spec.health_timeout - waited),
        [Event("Progressing", message, revision=run.revision)]
        if not applied and status[status_fields.LAST_APPLIED_CHANGES] and announce(run, wait)
        else [],
    )


def poll_after(run: ApplicationRun, results: list[tuple[ObjectRef, Health]], left: float) -> float:
    """When a health pass after the apply's assesses again: ``WATCHED_POLL`` when a watch
    follows every object not healthy yet (it wakes the Application sooner), else
    ``HEALTH_POLL``; never after the health timeout. (The apply's own pass looks again
    after ``HEALTH_POLL``, whose pass posts the wait's Progressing Event.)"""
    watch = run.health_watch
    followed = watch is not None and all(
        watch.health_of(ref.id) is not None
        for ref, health in results
        if health.status is not HealthStatus.HEALTHY
    )
    return max(min(WATCHED_POLL if followed else HEALTH_POLL, left), HEALTH_POLL)


def announce(run: ApplicationRun, wait: Wait) -> bool:
    """Whether this pass posts the Progressing Event of ``wait``: the first pass after the
    apply that finds the revision still not healthy (``health_waits``)."""
    waits = run.health_waits
    return waits is None or waits.announce((run.namespace, run.name, run.uid), wait)


def assess_in_wait(
    run: ApplicationRun,
    scope: Inventory,
    wait: Wait,
    seen: Mapping[ObjectRef, KubeObject],
) -> list[tuple[ObjectRef, Health]]:
    """The health of every object of ``scope``: from ``seen`` (this pass's apply) where it
    holds them Healthy, Healthy for those found so in an earlier pass of this ``wait``,
    from the watches where they follow them (``health_watches``), read for the rest
    (``health_waits``). Without a watch, an object the apply left unhealthy is read once
    more: its controller may have acted on it since (a Deployment's, within
    milliseconds); with one, the watch wakes the Application when it has."""
    app = (run.namespace, run.name, run.uid)
    waits, watch = run.health_waits, run.health_watch
    earlier = waits.healthy(app, wait) if waits is not None else frozenset()
    known = {ref: seen[ref] for ref in scope if ref in seen}
    if known:
        applied = run.manager.assess({ref: scope[ref] for ref in known}, known)
        unhealthy = {ref for ref, h in applied if h.status is not HealthStatus.HEALTHY}
        known = {ref: obj for ref, obj in known.items() if ref not in unhealthy}
        if watch is not None:
            watch.applied((ref.id, seen[ref], health) for ref, health in applied)
            watch.want((scope[ref], ref.kind) for ref in unhealthy)
    to_assess = {ref: v for ref, v in scope.items() if ref in known or ref not in earlier}
    followed: list[tuple[ObjectRef, Health]] = []
    if watch is not None:
        for ref in [ref for ref in to_assess if ref not in known]:
            if (health := watch.health_of(ref.id)) is not None:
                followed.append((ref, health))
                del to_assess[ref]
    to_read = {ref: v for ref, v in to_assess.items() if ref not in known}
    live: dict[ObjectRef, Live] = {**known}
    if to_read:
        live.update(run.manager.read(to_read.items()))
    judged = to_assess.keys() | {ref for ref, _ in followed}
    results = (
        run.manager.assess(to_assess, live)
        + followed
        + [
            (ref, Health(HealthStatus.HEALTHY, "healthy earlier in this wait"))
            for ref in scope
            if ref not in judged
        ]
    )
    results.sort(key=lambda item: item[0])
    if waits is not None:
        waits.record(app, wait, results)
    if watch is not None and all(h.status is HealthStatus.HEALTHY for _, h in results):
        watch.forget(run.key)  # the wait is over
    return results


def next_wave(
    run: ApplicationRun,
    snapshots: SnapshotStore,
    waves: Waves,
    wave: int,
    status: dict[str, Any],
) -> Outcome:
    """The waves through ``wave`` are healthy: apply the next one and wait for it
    (``syncWave``, a WaveApplied Event); after the last, prune what the revision left
    out, highest wave first, and the revision has ``succeeded``. Raises ``PruneError``
    (retried: the next pass prunes again) when some stale objects survive."""
    upcoming = waves.after(wave)
    if upcoming is None:
        pruned = prune(run, inventory.of_manifests(run.manifests))
        run.changes = pruned.changes
        if pruned.prune_error is not None:
            raise pruned.prune_error
        status[status_fields.LAST_APPLIED_CHANGES] = added(
            status[status_fields.LAST_APPLIED_CHANGES], counts(run.changes)
        )
        return after_sync(
            run, {**status, status_fields.SYNC: "Synced", status_fields.SYNC_WAVE: None}, snapshots
        )
    run.changes = apply_wave(run, run.manifests, waves, upcoming)
    status[status_fields.LAST_APPLIED_CHANGES] = added(
        status[status_fields.LAST_APPLIED_CHANGES], counts(run.changes)
    )
    status[status_fields.SYNC_WAVE] = wave_record(run, waves, upcoming)
    message = (
        f"applied wave {upcoming} of revision {run.revision}"
        f" ({run.changes.summary() or 'no objects'}; {waves.remaining(upcoming)} wave(s)"
        " after it); waiting for it to become healthy"
    )
    run.logger.info("%s", message)
    return Outcome(
        _as_patch(status),
        progressing(message),
        HEALTH_POLL,
        [Event("WaveApplied", message, revision=run.revision)],
    )


def after_sync(run: ApplicationRun, status: dict[str, Any], snapshots: SnapshotStore) -> Outcome:
    """Every wave is healthy: wait for the Sync hooks, then run the PostSync hooks, one
    pass at a time; the revision has ``succeeded`` once they all have. Raises
    ``HookFailedError`` (rolled back like a failed health check) when one fails or does
    not complete within healthTimeout."""
    items = resumable(run.status.get(status_fields.HOOKS), run.revision) or []
    for phase in (HookPhase.SYNC, HookPhase.POST_SYNC):
        if not of_phase(items, phase):
            continue
        progress = run_phase(run, items, phase, written=True)
        items, status = progress.record["items"], {**status, status_fields.HOOKS: progress.record}
        if progress.state is not HookState.SUCCEEDED:
            return hooks_waiting(run, progress, phase, _as_patch(status))
    return succeeded(run, status, snapshots)


def succeeded(run: ApplicationRun, status: dict[str, Any], snapshots: SnapshotStore) -> Outcome:
    """The applied revision turned healthy: its health check is over (``healthyAt``),
    a Succeeded history entry, Ready=True. It becomes ``lastGoodRevision`` now, or when
    its soak period ends (``drift.steady``)."""
    message = f"Applied revision: {run.revision}"
    items = resumable(
        status.get(status_fields.HOOKS, run.status.get(status_fields.HOOKS)), run.revision
    )
    entry = Entry(
        run.revision,
        SyncResult.SUCCEEDED,
        status[status_fields.LAST_APPLIED_AT],
        run.now,
        changes=status[status_fields.LAST_APPLIED_CHANGES],
        message=f"hooks: {summary(items)}" if items else "",
    )
    history = record(list(run.status.get(status_fields.HISTORY) or []), entry)
    count_changes(run.namespace, run.name, status[status_fields.LAST_APPLIED_CHANGES])
    soak = run.spec.rollback.soak_period
    previous_good = str(run.status.get(status_fields.LAST_GOOD_REVISION) or "")
    soaking = soak > 0 and previous_good not in ("", run.revision)
    promoted: dict[str, Any] = {}
    if soaking:
        snapshots.retain(run.obj, {sha_of(run.revision), sha_of(previous_good)})
        message += f" (healthy; soak period of {soak:.0f}s before it is the last good one)"
    else:
        snapshots.retain(run.obj, {sha_of(run.revision)})
        promoted[status_fields.LAST_GOOD_REVISION] = run.revision
    events = (
        [
            Event(
                "ReconciliationSucceeded",
                f"{message} ({run.changes.summary() or 'healthy'})",
                revision=run.revision,
            )
        ]
        if success_is_news(run.status, run.revision, run.changes.changed)
        else []
    )
    return Outcome(
        _as_patch(
            {
                **status,
                **promoted,
                status_fields.HEALTHY_AT: run.now,
                status_fields.LAST_ATTEMPTED_REVISION: run.revision,
                status_fields.FAILED_REVISION: None,
                status_fields.FAILED_GENERATION: None,
                status_fields.HISTORY: history,
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
    return {
        **status,
        status_fields.LAST_APPLIED_CHANGES: counts_patch(
            status[status_fields.LAST_APPLIED_CHANGES]
        ),
    }
