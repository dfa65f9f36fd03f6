"""What a reconcile hands back to the controller to write: status, conditions, events;
and the outcomes built from plain data (a quarantined revision, change counts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..api import status_fields
from ..conditions import TRANSIENT, ConditionType, ConditionUpdate, failed
from ..errors import GitOpsError
from ..health import Health, HealthStatus
from ..history import Entry, SyncResult, record
from ..manager import Action, ChangeSet
from ..objects import ObjectRef
from ..substitute import mask_values
from .run import ApplicationRun


@dataclass(frozen=True, slots=True)
class Event:
    reason: str
    message: str
    warning: bool = False
    revision: str = ""
    """The revision whose sync this Event reports (starting, succeeded, failed, rolled
    back): set, it drives commit statuses; empty for Events about anything else."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished reconcile: status fields to merge, conditions, events, next run."""

    status: dict[str, Any]
    conditions: list[ConditionUpdate]
    requeue_after: float
    events: list[Event] = field(default_factory=list)
    clear: tuple[ConditionType, ...] = TRANSIENT
    """Conditions removed unless this outcome sets them."""
    observed: bool = True
    """Whether the spec's generation is written as observed: False while a pass only
    waits (for a dependency), so the spec is still applied once the wait is over."""


def counts(changes: ChangeSet) -> dict[str, int]:
    """``{"created": 2, "configured": 1}``: the actions that happened, by count."""
    return {action: n for action, n in changes.counts().items() if n}


def counts_of(stored: Any) -> dict[str, int]:
    """Change counts read back from status (a merge patch may have left nulls)."""
    if not isinstance(stored, dict):
        return {}
    return {str(k): v for k, v in stored.items() if isinstance(v, int) and v}


def added(first: Mapping[str, int], second: Mapping[str, int]) -> dict[str, int]:
    """Two change counts summed (the waves of one revision)."""
    return {k: first.get(k, 0) + second.get(k, 0) for k in {*first, *second}}


def counts_patch(changes: Mapping[str, int]) -> dict[str, int | None]:
    """Change counts as a merge patch of ``status.lastAppliedChanges``: every action named,
    absent ones as null, so the stored counts are replaced rather than merged into."""
    return {action.value: changes.get(action.value) or None for action in Action}


def quarantine(run: ApplicationRun, error: GitOpsError, **extra: Any) -> Outcome:
    """The revision failed and is not retried until a new commit, a spec change or a
    retryAt: ``failedRevision``, ``failedGeneration``, a Failed history entry,
    Ready=False and Stalled=True with the error's reason, a Warning Event."""
    entry = Entry(run.revision, SyncResult.FAILED, run.now, run.now, message=error.message)
    return Outcome(
        {
            status_fields.SYNC: "OutOfSync",
            status_fields.FAILED_REVISION: run.revision,
            status_fields.FAILED_GENERATION: run.generation,
            status_fields.HISTORY: record(list(run.status.get(status_fields.HISTORY) or []), entry),
            status_fields.SYNC_WAVE: None,
            **run.handled_retry(),
            **extra,
        },
        failed(error.reason, f"{error.message}; {RETRY_HINT}", stalled=True),
        # the steady pass that follows refreshes health and checks drift at this pace
        min(run.spec.interval, run.spec.drift_interval),
        [Event(error.reason, error.message, warning=True, revision=run.revision)],
    )


RETRY_HINT = (
    "not tried again until a new commit, a spec change or a retry"
    " (gitops-operator retry, or the gitops-operator.dev/retryAt annotation)"
)


def worst_object(results: list[tuple[ObjectRef, Health]], overall: HealthStatus) -> str:
    """The first object in the overall state, with its health message."""
    return next(
        (f"{ref}: {h.message or h.status.value}" for ref, h in results if h.status is overall),
        overall.value,
    )


def masked(outcome: Outcome, secrets: frozenset[str]) -> Outcome:
    """The outcome with every Secret-sourced variable value masked in its status (the
    drift list, history messages), conditions and Events."""
    if not secrets:
        return outcome
    return replace(
        outcome,
        status=mask_values(outcome.status, secrets),
        conditions=[
            replace(c, message=mask_values(c.message, secrets)) for c in outcome.conditions
        ],
        events=[replace(e, message=mask_values(e.message, secrets)) for e in outcome.events],
    )


def applied_message(revision: str, applied: str) -> str:
    """The Ready message of a steady Application at the source's ``revision``."""
    if applied and applied != revision:  # status.unaffectedRevision
        return f"Applied revision: {applied}; {revision} changes none of its inputs"
    return f"Applied revision: {revision}"
