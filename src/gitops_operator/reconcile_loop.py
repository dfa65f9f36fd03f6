"""The loop of every resource's daemon: read the resource (the watched body when it is
known to hold the last pass's writes, else a GET), reconcile it, write the outcome (or
its error) to status and Events in one place, sleep until the requeue time or a wake-up;
a resource another replica owns is parked (``shard_wiring``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import kopf

from . import metrics
from .api import API_VERSION, GROUP
from .errors import FencedError, GitOpsError, SourceAwaitedError, StalledError
from .notifications import post_events
from .objects import KubeObject, ObjectRef
from .reconcilers.outcome import Outcome
from .runtime import API_RETRY, Key, Runtime, request_of
from .shard_wiring import fence_writes, park_unless_owned, still_owned, unpark, with_shard
from .status_writer import failure_outcome, write_outcome

Logger = logging.Logger | logging.LoggerAdapter[Any]
CATCH_UP = 1.0
"""Seconds a pass waits for its body to show the last pass's writes before a GET."""


async def run_daemon(
    runtime: Runtime,
    body: kopf.Body,
    kind: str,
    key: Key,
    logger: Logger,
    work: Callable[[KubeObject], Outcome],
) -> None:
    """Reconcile the resource afresh, write the outcome, sleep until its requeue time or
    a wake-up; return when the resource is gone (kopf also cancels us on deletion)."""
    ref = ObjectRef(GROUP, kind, key[0], key[1])
    fence_writes(runtime, kind, key, body)
    # the object as the last pass left it (its writes included); None: read it afresh
    version: str | None = ""
    status: Any = None
    try:
        while True:
            if _gone(runtime, kind, key, body):
                return
            if not await park_unless_owned(runtime, kind, key, body, logger):
                version = None  # another replica may have written it meanwhile
                continue  # another replica's: no request at all until ownership changes
            done = await _one_pass(runtime, body, kind, key, logger, work, version, status)
            if isinstance(done, GitOpsError):
                logger.warning("cannot read %s: %s", ref, done.message)
                await runtime.sleep(kind, key, API_RETRY)
                continue
            if done is None:
                runtime.started.pop((kind, key), None)
                return
            version, status, requeue = done
            await runtime.sleep(kind, key, requeue)
    finally:
        unpark(runtime, kind, key)


def _gone(runtime: Runtime, kind: str, key: Key, body: kopf.Body) -> bool:
    """Whether the resource was deleted without a deletion phase (no finalizer)."""
    gone = (kind, key, str(body.metadata.get("uid") or ""))
    if gone in runtime.gone:
        runtime.gone.discard(gone)
        return True
    return False


async def _one_pass(
    runtime: Runtime,
    body: kopf.Body,
    kind: str,
    key: Key,
    logger: Logger,
    work: Callable[[KubeObject], Outcome],
    version: str | None,
    status: Any,
) -> tuple[str, Any, float] | GitOpsError | None:
    """Once its turn comes (``Runtime.passes``: thousands due at once wait there, FIFO,
    without a copy of their resource each; one woken by ``Runtime.wake_first`` goes before
    them), read the resource, reconcile it and write the
    outcome. Returns what the next pass compares the body with (its resourceVersion and
    status) and when that one is due; the read's error; None when the resource is gone.
    The pass's copy of the resource is not kept while the daemon sleeps."""
    ref = ObjectRef(GROUP, kind, key[0], key[1])
    if version is not None:
        await _caught_up(body, version, status)  # before its turn: this waits no pool
    first = (kind, key) in runtime.first
    runtime.first.discard((kind, key))
    async with runtime.passes.turn(first=first):
        # whatever woke the daemon until now is seen by this pass: it reads the body,
        # the source and the objects after this point
        runtime.waker(kind, key).clear()
        try:
            watched = None if version is None else _watched(body, version, status)
            obj = watched or await fresh(runtime, ref)
        except GitOpsError as exc:
            return exc
        if obj is None:
            return None
        runtime.started[(kind, key)] = request_of(obj)
        outcome = await reconcile_once(runtime, body, obj, ref, logger, partial(work, obj))
        return (
            str(obj["metadata"].get("resourceVersion") or ""),
            obj.get("status"),
            outcome.requeue_after,
        )


async def _caught_up(body: kopf.Body, version: str, status: Any) -> None:
    """Wait up to ``CATCH_UP`` seconds for the watch to bring the last pass's writes to
    the body (it lags them by a few milliseconds, more while the operator is busy)."""
    deadline = time.monotonic() + CATCH_UP
    while not _holds(body, version, status) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def _holds(body: kopf.Body, version: str, status: Any) -> bool:
    """Whether the daemon's body (kopf keeps it current from the watch) is known to hold
    everything the last pass wrote: at the first pass, when its resourceVersion is the
    one the last pass left, or when its status is the one the last pass left (another
    writer's metadata patch moves the version)."""
    return (
        not version
        or body.metadata.get("resourceVersion") == version
        or _merged(body.get("status")) == _merged(status)
    )


def _watched(body: kopf.Body, version: str, status: Any) -> KubeObject | None:
    """A copy of the daemon's body when it ``_holds`` the last pass's writes; else None
    (read it afresh)."""
    if not _holds(body, version, status):
        return None
    raw = dict(body)
    raw["metadata"] = _lean(raw.get("metadata") or {})
    copied: KubeObject = json.loads(json.dumps(raw))  # a deep copy, in C
    return copied


def _lean(metadata: Any) -> Any:
    """The metadata without ``managedFields``: no pass reads the resource's own (a third
    of an Application's body); without them the pass's copy is that much smaller."""
    return {k: v for k, v in metadata.items() if k != "managedFields"}


def _merged(value: Any) -> Any:
    """``value`` as a JSON merge patch leaves it: no null members."""
    if isinstance(value, dict):
        return {k: _merged(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_merged(v) for v in value]
    return value


async def fresh(runtime: Runtime, ref: ObjectRef) -> KubeObject | None:
    """The object as the API server has it now (the daemon's body may lag our writes),
    without its ``managedFields``."""
    obj = await asyncio.get_running_loop().run_in_executor(
        runtime.executor, runtime.kube.get, API_VERSION, ref
    )
    if obj is not None and isinstance(obj.get("metadata"), dict):
        obj["metadata"] = _lean(obj["metadata"])
    return obj


async def reconcile_once(
    runtime: Runtime,
    body: kopf.Body,
    obj: KubeObject,
    ref: ObjectRef,
    logger: Logger,
    work: Callable[[], Outcome],
) -> Outcome:
    """Run ``work`` and write its outcome (or its error) to status and Events."""
    started = time.monotonic()
    result = "success"
    queued = (ref.kind, (ref.namespace, ref.name))

    def run() -> Outcome:
        runtime.queued.discard(queued)  # in the pool, before the pass reads its source
        return work()

    runtime.queued.add(queued)
    try:
        outcome = await runtime.call(run)
    except FencedError as exc:
        logger.info("%s; dropped", exc.message)
        return Outcome({}, [], 0.0)
    except SourceAwaitedError as exc:  # a new Application: nothing to report yet
        logger.debug("%s", exc.message)
        metrics.observe_reconcile(str(obj.get("kind")), "waiting", time.monotonic() - started)
        return Outcome({}, [], exc.requeue_after)
    except GitOpsError as exc:
        result = "stalled" if isinstance(exc, StalledError) else "error"
        outcome = failure_outcome(runtime, obj, exc)
        logger.warning("reconcile failed: %s: %s", exc.reason, exc.message)
    except Exception as exc:  # a bug must not stop the daemon: report it and retry later
        result = "error"
        logger.exception("unexpected error during reconcile")
        outcome = failure_outcome(
            runtime, obj, GitOpsError(f"internal error: {exc}", reason="InternalError")
        )
    finally:
        runtime.queued.discard(queued)  # also when cancelled before it ran
    metrics.observe_reconcile(str(obj.get("kind")), result, time.monotonic() - started)
    if not still_owned():  # moved meanwhile: its new owner writes the outcome
        logger.info("no longer owned by this replica: outcome dropped")
        return Outcome({}, [], 0.0)
    outcome = replace(outcome, status=with_shard(runtime, outcome.status, obj.get("status")))
    await write_outcome(runtime, obj, ref, outcome, logger)
    post_events(body, outcome.events, runtime.notifier)
    return outcome
