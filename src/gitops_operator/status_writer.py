"""Where a reconcile's outcome is written: status and conditions, the metrics of the
resource, and the outcome of a reconcile that raised.

One place, whatever the reconcile did: status is the record (a failed write is retried
until the API server takes it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from . import conditions, metrics
from .api import (
    API_VERSION,
    APPLICATION_KIND,
    DEFAULT_APPLICATION_INTERVAL,
    REPOSITORY_KIND,
    REQUESTED_AT_ANNOTATION,
    parse_duration,
    status_fields,
)
from .errors import ApiError, GitOpsError, RetryableError, StalledError
from .objects import KubeObject, ObjectRef
from .reconcilers.decisions import TIMESTAMP
from .reconcilers.outcome import Event, Outcome
from .runtime import API_RETRY

Logger = logging.Logger | logging.LoggerAdapter[Any]
T = TypeVar("T")


class StatusApi(Protocol):
    def patch_status(
        self, api_version: str, ref: ObjectRef, status: dict[str, Any]
    ) -> str | None: ...


class RetrySettings(Protocol):
    @property
    def retry_interval(self) -> float: ...


class StatusRuntime(Protocol):
    """What writing an outcome needs of the runtime (``runtime.Runtime`` has it): the
    status subresource, the retry interval, and the pool that runs blocking calls."""

    @property
    def kube(self) -> StatusApi: ...

    @property
    def settings(self) -> RetrySettings: ...

    async def call(self, fn: Callable[[], T]) -> T: ...


async def write_outcome(
    runtime: StatusRuntime,
    obj: KubeObject,
    ref: ObjectRef,
    outcome: Outcome,
    logger: Logger,
    *,
    retry_every: float = API_RETRY,
) -> None:
    """Write the outcome's status; while the API server cannot take it, try again every
    ``retry_every`` seconds, so the status is right as soon as the server answers (the work
    is done: only its record is missing). Other refusals are logged once."""
    while True:
        try:
            await runtime.call(lambda: finish(runtime, obj, ref, outcome))
            return
        except ApiError as exc:
            if not exc.transient:
                logger.warning("could not write status: %s", exc.message)
                return
            logger.info("could not write status, retrying in %.0fs: %s", retry_every, exc.message)
        except GitOpsError as exc:
            logger.warning("could not write status: %s", exc.message)
            return
        await asyncio.sleep(retry_every)


def failure_outcome(runtime: StatusRuntime, obj: KubeObject, exc: GitOpsError) -> Outcome:
    """What a reconcile that raised ``exc`` writes: Ready=False (Stalled=True when the
    user must act), or in progress for something on its way; a Warning Event once."""
    stalled = isinstance(exc, StalledError)
    interval = _interval_of(runtime, obj)
    if isinstance(exc, ApiError) and exc.transient:
        requeue = API_RETRY * 2.5  # the API server is down or overloaded: back soon
    elif isinstance(exc, RetryableError):
        requeue = min(exc.requeue_after, interval)
    elif isinstance(exc, StalledError):
        requeue = interval  # waits for a new commit, a spec change or an annotation
    else:
        requeue = min(runtime.settings.retry_interval, interval)
    ready = (
        conditions.get_condition(
            (obj.get("status") or {}).get("conditions") or [], conditions.ConditionType.READY
        )
        or {}
    )
    repeated = ready.get("status") in ("False", "Unknown") and ready.get("message") == exc.message
    status = {status_fields.SYNC: "OutOfSync"} if obj.get("kind") == APPLICATION_KIND else {}
    events = [] if repeated else [Event(exc.reason, exc.message, warning=exc.warning)]
    updates = (
        conditions.failed(exc.reason, exc.message, stalled=stalled)
        if exc.warning
        else conditions.progressing(exc.message)  # on its way, e.g. a source's first fetch
    )
    return Outcome(status, updates, requeue, events)


def _interval_of(runtime: StatusRuntime, obj: KubeObject) -> float:
    default = "1m" if obj.get("kind") == REPOSITORY_KIND else DEFAULT_APPLICATION_INTERVAL
    try:
        return parse_duration(
            str((obj.get("spec") or {}).get("interval", default)), field_name="spec.interval"
        )
    except GitOpsError:
        return runtime.settings.retry_interval


def finish(runtime: StatusRuntime, obj: KubeObject, ref: ObjectRef, outcome: Outcome) -> Outcome:
    """Merge-patch the outcome into status (only when it changes something) and set the
    Application's info metric."""
    meta = obj["metadata"]
    generation = int(meta.get("generation", 0))
    old = obj.get("status") or {}
    status: dict[str, Any] = {
        **outcome.status,
        **({"observedGeneration": generation} if outcome.observed else {}),
        "conditions": conditions.apply_updates(
            list(old.get("conditions") or []),
            outcome.conditions,
            generation=generation,
            now=now(),
            clear=outcome.clear,
        ),
    }
    requested = (meta.get("annotations") or {}).get(REQUESTED_AT_ANNOTATION)
    if requested:
        status[status_fields.LAST_HANDLED_RECONCILE_AT] = requested
    if any(old.get(key) != value for key, value in status.items()):  # else it changes nothing
        version = runtime.kube.patch_status(API_VERSION, ref, status)
        if version:  # the daemon's next pass knows the body its watch shows is current
            meta["resourceVersion"] = version
            obj["status"] = {**old, **status}
    if ref.kind == APPLICATION_KIND:
        merged = {**old, **status}
        metrics.set_application_info(
            ref.namespace,
            ref.name,
            source=str(((obj.get("spec") or {}).get("sourceRef") or {}).get("name", "")),
            revision=str(merged.get(status_fields.LAST_APPLIED_REVISION) or ""),
            sync=str(merged.get(status_fields.SYNC) or "Unknown"),
            health=str(merged.get(status_fields.HEALTH) or "Unknown"),
        )
    return outcome


def now() -> str:
    """The current time as status writes it (RFC 3339, UTC, seconds)."""
    return datetime.now(UTC).strftime(TIMESTAMP)
