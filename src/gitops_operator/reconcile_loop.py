"""The loop of every resource's daemon: read the resource afresh, reconcile it, write the
outcome (or its error) to status and Events in one place, sleep until the requeue time or
a wake-up; a resource another replica owns is parked (``shard_wiring``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import kopf

from . import metrics
from .api import API_VERSION, GROUP
from .errors import FencedError, GitOpsError, StalledError
from .notifications import post_events
from .objects import KubeObject, ObjectRef
from .reconcilers.outcome import Outcome
from .runtime import API_RETRY, Key, Runtime, request_of
from .shard_wiring import fence_writes, park_unless_owned, still_owned, unpark, with_shard
from .status_writer import failure_outcome, write_outcome

Logger = logging.Logger | logging.LoggerAdapter[Any]


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
    try:
        while True:
            if not await park_unless_owned(runtime, kind, key, body, logger):
                continue  # another replica's: no request at all until ownership changes
            try:
                obj = await fresh(runtime, ref)
            except GitOpsError as exc:
                logger.warning("cannot read %s: %s", ref, exc.message)
                await runtime.sleep(kind, key, API_RETRY)
                continue
            if obj is None:
                runtime.started.pop((kind, key), None)
                return
            runtime.started[(kind, key)] = request_of(obj)
            outcome = await reconcile_once(runtime, body, obj, ref, logger, partial(work, obj))
            await runtime.sleep(kind, key, outcome.requeue_after)
    finally:
        unpark(runtime, kind, key)


async def fresh(runtime: Runtime, ref: ObjectRef) -> KubeObject | None:
    """The object as the API server has it now (the daemon's body may lag our writes)."""
    return await asyncio.get_running_loop().run_in_executor(
        runtime.executor, runtime.kube.get, API_VERSION, ref
    )


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
    try:
        outcome = await runtime.call(work)
    except FencedError as exc:
        logger.info("%s; dropped", exc.message)
        return Outcome({}, [], 0.0)
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
    metrics.observe_reconcile(str(obj.get("kind")), result, time.monotonic() - started)
    if not still_owned():  # moved meanwhile: its new owner writes the outcome
        logger.info("no longer owned by this replica: outcome dropped")
        return Outcome({}, [], 0.0)
    outcome = replace(outcome, status=with_shard(runtime, outcome.status))
    await write_outcome(runtime, obj, ref, outcome, logger)
    post_events(body, outcome.events, runtime.notifier)
    return outcome
