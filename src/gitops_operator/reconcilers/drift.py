"""The steady path: nothing new to apply. Health is refreshed and drift checked when due.

Drift: live objects that no longer match the applied revision, found by server-side-apply
dry-run of its manifests against the live objects (fields owned by other managers are not
drift: the dry-run keeps them). With ``selfHeal`` the drifted objects are applied again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from typing import Any

from ..api import sha_of, status_fields
from ..conditions import ConditionType, ConditionUpdate, failed, ready
from ..errors import HealthCheckError, SourceError
from ..health import HealthStatus, aggregate
from ..live import Live
from ..manager import Drift, ResourceManager
from ..metrics import DRIFT_CHECKS, DRIFTED_OBJECTS
from ..objects import Manifest, ObjectRef
from .decisions import drift_due, drift_result_written, soak_remaining
from .outcome import Event, Outcome, applied_message, worst_object
from .run import ApplicationRun, DesiredFn
from .snapshots import SnapshotStore

MAX_OBJECTS = 20
MAX_FIELDS = 10
MAX_VALUE_CHARS = 200


def steady(
    run: ApplicationRun,
    desired: DesiredFn,
    snapshots: SnapshotStore,
    drift_checked: MutableMapping[tuple[str, str, str], str],
    *,
    quarantined: bool = False,
) -> Outcome:
    """Refresh health; check drift when due, or at once when ``run.drift_asked`` (a watch
    saw another manager change one of its objects), and correct it with selfHeal (both read
    the live objects once). ``drift_checked`` remembers unwritten checks, by Application.

    Sets ``health`` (Unknown while nothing was ever applied), ``drift``,
    ``lastDriftCheckAt``, ``sync`` (OutOfSync while live objects drift from the applied
    revision, as Argo CD shows it), Ready (False, reason Degraded, while a revision that passed its
    health check is Degraded; not when quarantined), Drifted, and ``lastGoodRevision``
    when a soak period ends. Raises ``HealthCheckError`` when a revision turns Degraded
    within its soak period."""
    if run.drift_asked:  # a watch saw a change: read it now
        live = run.manager.read(run.inventory.items())
    else:  # a list taken by another Application's pass may serve (``shared_lists``)
        live = run.manager.read_recent(run.inventory.items(), run.spec.drift_interval / 2)
    results = run.manager.assess(run.inventory, live)
    overall = aggregate(h.status for _, h in results)
    applied = str(run.status.get(status_fields.LAST_APPLIED_REVISION) or "")
    if not applied:
        overall = HealthStatus.UNKNOWN  # nothing applied: nothing to call healthy
    worst = worst_object(results, overall)
    status: dict[str, Any] = {status_fields.HEALTH: overall.value}
    updates: list[ConditionUpdate] = []
    events = _health_events(run, overall, worst)
    wait = min(run.spec.interval, run.spec.drift_interval)
    if not quarantined:
        remaining = soak_remaining(run.status, run.spec.rollback.soak_period, run.now)
        if remaining is not None and overall is HealthStatus.DEGRADED:
            raise HealthCheckError(
                f"revision {run.revision} turned Degraded within its soak period: {worst}"
            )
        if remaining is not None and remaining <= 0:
            status[status_fields.LAST_GOOD_REVISION] = run.revision
            snapshots.retain(run.obj, {sha_of(run.revision)})
            events.append(Event("SoakPassed", f"revision {run.revision} is the last good revision"))
        elif remaining is not None:
            wait = min(wait, remaining)
    key = (run.namespace, run.name, run.uid)
    written = str(run.status.get(status_fields.LAST_DRIFT_CHECK_AT) or "")
    due = drift_due(drift_checked.get(key, ""), written, run.now, run.spec.drift_interval)
    if applied and (run.drift_asked or due):
        DRIFT_CHECKS.labels("interval" if due else "watch").inc()
        manifests = _desired_or_none(run, desired, applied)
        if manifests is not None:
            checked = drift_status(run.manager, run, manifests, live)
            drift_checked[key] = run.now
            status.update(checked.status)
            if not quarantined:  # the source's revision is applied: live state decides
                status[status_fields.SYNC] = (
                    "OutOfSync" if checked.status.get(status_fields.DRIFT) else "Synced"
                )
            changed = checked.status.get(status_fields.DRIFT) != run.status.get(status_fields.DRIFT)
            if not drift_result_written(changed, written, run.now, run.spec.interval):
                del status[status_fields.LAST_DRIFT_CHECK_AT]
            updates += checked.conditions
            events += checked.events
    if not quarantined:
        if overall is HealthStatus.DEGRADED:
            updates += failed("Degraded", worst, stalled=False)
        else:
            updates += ready(applied_message(run.revision, applied))
    clear = () if quarantined else (ConditionType.RECONCILING, ConditionType.STALLED)
    return Outcome(status, updates, wait, events, clear=clear)


def _desired_or_none(
    run: ApplicationRun, desired: DesiredFn, revision: str
) -> list[Manifest] | None:
    """The applied revision's manifests, or None (no drift check this time) when neither
    its snapshot nor its commit can be had."""
    try:
        return desired(run, revision)
    except SourceError as exc:
        run.logger.info("drift check skipped: %s", exc.message)
        return None


def _health_events(run: ApplicationRun, overall: HealthStatus, worst: str) -> list[Event]:
    """An Event when the health of an applied revision turns Degraded, and when it is
    Healthy again after being Degraded or Progressing."""
    before = run.status.get(status_fields.HEALTH)
    if overall is HealthStatus.DEGRADED and before != HealthStatus.DEGRADED:
        return [
            Event(
                "HealthDegraded",
                f"{worst}; revision {run.status.get('lastAppliedRevision', '')} stays applied",
                warning=True,
            )
        ]
    if overall is HealthStatus.HEALTHY and before in (
        HealthStatus.DEGRADED,
        HealthStatus.PROGRESSING,
    ):
        # a recovery often passes through Progressing (a rollout): say it when it is over
        return [Event("HealthRecovered", "every object is healthy again")]
    return []


def drift_status(
    manager: ResourceManager,
    run: ApplicationRun,
    desired: list[Manifest],
    live: Mapping[ObjectRef, Live] | None = None,
) -> Outcome:
    """Check drift (against ``live``, the objects already read in this pass, where it
    holds them); correct it when ``spec.selfHeal``. Sets ``status.drift``,
    ``lastDriftCheckAt`` and the Drifted condition."""
    revision = run.status.get(status_fields.LAST_APPLIED_REVISION, "")
    drifts = manager.diff_all(desired, run.spec.ignore_differences, live)
    DRIFTED_OBJECTS.labels(run.namespace, run.name).set(len(drifts))
    status: dict[str, Any] = {status_fields.LAST_DRIFT_CHECK_AT: run.now}
    was_drifted = bool(run.status.get(status_fields.DRIFT))
    if not drifts:
        status[status_fields.DRIFT] = None
        events = (
            [Event("DriftResolved", f"live objects match {revision} again")] if was_drifted else []
        )
        return Outcome(
            status,
            [
                ConditionUpdate(
                    ConditionType.DRIFTED, False, "NoDrift", f"live objects match {revision}"
                )
            ],
            0,
            events,
        )
    described = describe(drifts)
    if run.spec.self_heal:
        drifted = {d.ref for d in drifts}
        manager.apply_all(
            [m for m in desired if m.ref in drifted],
            ignore=run.spec.ignore_differences,
            before_write=lambda: None,
        )
        DRIFTED_OBJECTS.labels(run.namespace, run.name).set(0)
        status[status_fields.DRIFT] = None
        message = f"corrected drift of {len(drifts)} object(s): {described}"
        return Outcome(
            status,
            [ConditionUpdate(ConditionType.DRIFTED, False, "DriftCorrected", message)],
            0,
            [Event("DriftCorrected", message)],
        )
    summary = summarize(drifts)
    status[status_fields.DRIFT] = summary
    message = f"{len(drifts)} object(s) differ from {revision}: {described}"
    events = (
        []
        if summary == run.status.get(status_fields.DRIFT)
        else [Event("DriftDetected", message, warning=True)]
    )
    return Outcome(
        status, [ConditionUpdate(ConditionType.DRIFTED, True, "DriftDetected", message)], 0, events
    )


def describe(drifts: list[Drift]) -> str:
    parts = []
    for d in drifts[:5]:
        what = "missing" if d.missing else ", ".join(c.path for c in d.changes[:3])
        parts.append(f"{d.ref} ({what})")
    return "; ".join(parts) + ("; ..." if len(drifts) > 5 else "")


def summarize(drifts: list[Drift]) -> list[dict[str, Any]]:
    """The bounded ``status.drift`` list; Secret values arrive already masked."""
    return [
        {
            "object": str(d.ref),
            **({"missing": True} if d.missing else {}),
            "fields": [
                {"path": c.path, "desired": _short(c.desired), "live": _short(c.live)}
                for c in d.changes[:MAX_FIELDS]
            ],
        }
        for d in drifts[:MAX_OBJECTS]
    ]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."
