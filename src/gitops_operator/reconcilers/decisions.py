"""Every decision of an Application's reconcile, as pure functions over its spec and
status: which path a pass takes, whether a failed revision is rolled back, whether drift
is due, whether a render may prune.

A revision's health check starts when it is applied and ends the first time it is
assessed healthy. After that, health never fails it: later degradation is reported (health,
the Ready condition, an Event, the metric) and is drift's and the user's business. The one
exception is an opt-in soak period (``spec.rollback.soakPeriod``): until it ends, a revision
that turns Degraded (not merely Progressing) is still rolled back, and it becomes the last
good revision only when the soak period is over.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..api import RollbackSpec, status_fields
from ..errors import ApplyError, DryRunError, GitOpsError, HealthCheckError, HookFailedError
from ..hooks import HookPhase, HookState, phase_state, resumable

K = TypeVar("K", bound=Hashable)
TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def seconds_since(stamp: str, now: str) -> float:
    """Seconds from ``stamp`` to ``now`` (RFC 3339, UTC); infinite when ``stamp`` is empty."""
    if not stamp:
        return float("inf")
    then = datetime.strptime(stamp, TIMESTAMP).replace(tzinfo=UTC)
    return (datetime.strptime(now, TIMESTAMP).replace(tzinfo=UTC) - then).total_seconds()


def health_check_passed(status: dict[str, Any]) -> bool:
    """Whether the applied revision, as last applied, has already turned healthy once.

    Every apply clears ``healthyAt``, so a spec change re-applying the last good revision
    is health-checked like a new commit."""
    healthy_at = str(status.get(status_fields.HEALTHY_AT) or "")
    # RFC 3339 UTC stamps of one format order as strings do
    return bool(healthy_at) and healthy_at >= str(status.get(status_fields.LAST_APPLIED_AT) or "")


def wave_in_progress(status: dict[str, Any], revision: str) -> tuple[int, str] | None:
    """``(wave, appliedAt)`` of the sync wave of ``revision`` applied last and not yet
    passed on (``status.syncWave``), or None: no waves, or they are all done."""
    record = status.get(status_fields.SYNC_WAVE)
    if not isinstance(record, dict) or record.get("revision") != revision:
        return None
    wave, applied_at = record.get("wave"), record.get("appliedAt")
    if not isinstance(wave, int) or isinstance(wave, bool) or not isinstance(applied_at, str):
        return None
    return wave, applied_at


def soak_remaining(status: dict[str, Any], soak_period: float, now: str) -> float | None:
    """Seconds left in the applied revision's soak period (0 or less: it is over, promote
    the revision); None when it is not soaking."""
    if (
        soak_period <= 0
        or not status.get(status_fields.HEALTHY_AT)
        or not health_check_passed(status)
    ):
        return None
    if status.get(status_fields.LAST_GOOD_REVISION) == status.get(
        status_fields.LAST_APPLIED_REVISION
    ):
        return None
    return soak_period - seconds_since(str(status[status_fields.HEALTHY_AT]), now)


def quarantined(
    status: dict[str, Any], revision: str, generation: int, retry_requested: str
) -> bool:
    """The source's revision failed at this generation and no new retryAt asks again."""
    return bool(
        status.get(status_fields.FAILED_REVISION) == revision
        and status.get(status_fields.FAILED_GENERATION) == generation
        and (
            not retry_requested
            or retry_requested == status.get(status_fields.LAST_HANDLED_RETRY_AT)
        )
    )


def health_may_recover(status: dict[str, Any], revision: str) -> bool:
    """A quarantined revision that failed its health check and is still the applied one
    (nothing was rolled back: the first revision, or rollback disabled): it is released
    from quarantine if it turns healthy later, as a slow rollout often does, and once its
    Sync and PostSync hooks, which then run, have passed."""
    stalled = next((c for c in status.get("conditions") or [] if c.get("type") == "Stalled"), None)
    if (
        status.get(status_fields.FAILED_REVISION) != revision
        or status.get(status_fields.LAST_APPLIED_REVISION) != revision
    ):
        return False
    if stalled is not None and stalled.get("status") == "True":
        return bool(stalled.get("reason") == HealthCheckError.reason)
    # turned healthy late and now runs its Sync or PostSync hooks: released when they pass
    items = resumable(status.get(status_fields.HOOKS), revision) or []
    return any(
        phase_state(items, phase) is HookState.RUNNING
        for phase in (HookPhase.SYNC, HookPhase.POST_SYNC)
    )


def rollback_requested(status: dict[str, Any], requested_at: str, wanted: str) -> bool:
    """A rollback is asked for (``rollbackAt`` and its target ``rollbackTo``) and not yet
    answered: each ``rollbackAt`` value is acted on once, so a second rollback to the same
    revision is a new stamp, never another spelling of the revision."""
    return bool(
        requested_at
        and wanted
        and requested_at != status.get(status_fields.LAST_HANDLED_ROLLBACK_AT)
    )


def unaffected_revision(status: dict[str, Any]) -> str:
    """The source revision recorded as changing none of the applied revision's render
    inputs (``status.unaffectedRevision``), while that is still the applied one; else ""."""
    record = status.get(status_fields.UNAFFECTED_REVISION)
    if not isinstance(record, dict):
        return ""
    applied = status.get(status_fields.LAST_APPLIED_REVISION)
    if not applied or record.get("appliedRevision") != applied:
        return ""
    return str(record.get("revision") or "")


def at_revision(status: dict[str, Any], revision: str) -> bool:
    """The live objects are what ``revision`` renders: it is the applied revision, or one
    that changes none of the applied revision's inputs."""
    return bool(revision) and (
        status.get(status_fields.LAST_APPLIED_REVISION) == revision
        or unaffected_revision(status) == revision
    )


def settled(status: dict[str, Any], revision: str, generation: int, requested: str) -> bool:
    """The source's revision is applied (or changes nothing for this Application,
    ``at_revision``) at this generation and no new requestedAt asks for a sync."""
    return bool(
        at_revision(status, revision)
        and status.get("observedGeneration") == generation
        and (not requested or requested == status.get(status_fields.LAST_HANDLED_RECONCILE_AT))
    )


def should_roll_back(
    error: GitOpsError, policy: RollbackSpec, status: dict[str, Any], revision: str
) -> bool:
    """Whether a failed revision is replaced by the last good one (else it is only
    quarantined): the failure may have changed the cluster, the policy allows a rollback
    for this kind of failure, and there is a last good revision other than this one."""
    good = str(status.get(status_fields.LAST_GOOD_REVISION) or "")
    if not policy.enabled or not good or good == revision:
        return False
    if isinstance(error, HookFailedError):  # a PreSync hook fails before any write
        return error.written and policy.on_health_failure
    if isinstance(error, HealthCheckError):
        return policy.on_health_failure
    if isinstance(error, DryRunError):
        return error.partial and policy.on_apply_failure  # else nothing was written
    if isinstance(error, ApplyError):
        return policy.on_apply_failure
    return False  # refused before any write (render, spec, prune guards)


def drift_due(last_checked: str, last_written: str, now: str, drift_interval: float) -> bool:
    """A drift check runs every ``drift_interval`` after the last one, whether its result
    was written to status (``lastDriftCheckAt``) or only remembered in this process."""
    return seconds_since(max(last_checked, last_written), now) >= drift_interval


def drift_result_written(changed: bool, last_written: str, now: str, interval: float) -> bool:
    """Whether ``lastDriftCheckAt`` is written: when the result changed, else at most
    every ``interval`` (and 5m), so an unchanged result costs no status write."""
    return changed or seconds_since(last_written, now) >= max(interval, 300.0)


def deletion_refusal(
    *,
    prune: bool,
    stale: int,
    rendered: int,
    allow_empty: bool,
    max_deletions: int | None,
) -> tuple[str, str] | None:
    """(reason, why) when a render must not prune, checked before any write; else None."""
    if not prune or not stale:
        return None
    if not rendered and not allow_empty:
        return (
            "EmptyRender",
            f"renders no objects; refusing to prune the {stale} objects of the inventory"
            " (set spec.allowEmpty to allow it)",
        )
    if max_deletions is not None and stale > max_deletions:
        return (
            "TooManyDeletions",
            f"would delete {stale} objects, more than spec.maxDeletions={max_deletions}",
        )
    return None


def dependency_blocker(
    dependency: dict[str, Any] | None, source_revision: str | None = None
) -> str | None:
    """Why an Application that others depend on is not ready for them, or None when it is:
    it exists, its Ready condition is True for its current generation, it has applied its
    source's current revision (``source_revision``, when known) and it is not held at an
    earlier revision by a rollback."""
    if dependency is None:
        return "not found"
    meta = dependency.get("metadata") or {}
    status = dependency.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    ready = conditions.get("Ready") or {}
    if status.get("observedGeneration") != meta.get("generation"):
        return "its latest spec is not reconciled yet"
    if (conditions.get("RolledBack") or {}).get("status") == "True":
        return f"rolled back: {ready.get('message') or 'held at its last good revision'}"
    if ready.get("status") != "True":
        state = {"False": "Ready=False", "Unknown": "in progress"}.get(
            str(ready.get("status")), "not reconciled yet"
        )
        detail = f" ({ready.get('reason')}: {ready.get('message')})" if ready else ""
        return f"{state}{detail}"
    if source_revision and not at_revision(status, source_revision):
        return f"its source is at {source_revision}, not applied yet"
    return None


def find_cycle(start: K, graph: Mapping[K, tuple[K, ...]]) -> list[K] | None:
    """A dependency cycle through ``start`` (``[start, ..., start]``), or None. Iterative:
    a chain of any length cannot exhaust the stack."""
    path: list[K] = [start]
    stack = [iter(graph.get(start, ()))]
    seen = {start}
    while stack:
        nxt = next(stack[-1], None)
        if nxt is None:
            stack.pop()
            path.pop()
            continue
        if nxt == start:
            return [*path, start]
        if nxt in seen:
            continue
        seen.add(nxt)
        path.append(nxt)
        stack.append(iter(graph.get(nxt, ())))
    return None


def success_is_news(status: Mapping[str, Any], revision: str, changed: bool) -> bool:
    """Whether a revision turning healthy is worth a ReconciliationSucceeded Event (and
    so a notification): not when the pass changed no object and the Application was
    already Ready at that same revision (a requested or spec-only pass that re-applied
    it unchanged: fluxcd/flux2#626)."""
    conditions = status.get("conditions") or []
    ready: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    already = (
        ready.get("status") == "True"
        and status.get(status_fields.LAST_APPLIED_REVISION) == revision
    )
    return changed or not already
