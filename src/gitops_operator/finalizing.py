"""The operator's finalizer (``gitops-operator.dev/finalizer``): added to an Application by
the replica that owns it, before its first apply, and removed by the owner once the
deletion's cleanup (its deletionPolicy) is done. kopf holds no finalizer of its own
(``controller``): every write here passes the ownership fence (``shard_wiring``), so a
replica never writes the finalizer of a resource another replica owns.

GitRepositories need no cleanup: the owner only removes a finalizer an earlier version
of the operator left on them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .api import API_VERSION, GROUP
from .errors import ApiError, FencedError, GitOpsError
from .kube import KubeClient
from .objects import KubeObject, ObjectRef
from .runtime import Key, Runtime
from .shard_wiring import fence_writes, labels_of

Logger = logging.Logger | logging.LoggerAdapter[Any]
FINALIZER = f"{GROUP}/finalizer"
RETRY = 10.0
"""Seconds before a cleanup that failed unexpectedly runs again."""
OWNER_RECHECK = 1.0
"""Seconds between local looks (no request) at who owns a resource being deleted."""
_CONFLICT_TRIES = 5

Cleanup = Callable[[str, Key, KubeObject, Logger], Awaitable[float | None]]
"""Runs the cleanup of a resource being deleted (as its owner, writes fenced): None when
done (the finalizer may go), else the seconds after which to run it again."""


def finalizer_manager(runtime: Runtime) -> str:
    """The field manager of the finalizer writes: sharded, it names the replica, so an
    object's managedFields tell which replica added its finalizer."""
    manager = runtime.settings.field_manager
    return f"{manager}-{runtime.shards.identity}" if runtime.shards.enabled else manager


def deleting(body: Mapping[str, Any]) -> bool:
    """Whether the resource is being deleted and waits for the operator's finalizer."""
    meta = body.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and FINALIZER in (meta.get("finalizers") or [])


def ensure_finalizer(kube: KubeClient, ref: ObjectRef, obj: KubeObject, manager: str) -> None:
    """Add the finalizer to ``obj`` unless it has it or is being deleted (in the calling
    context: its write fence applies); ``obj`` is updated with the write."""
    current: KubeObject | None = obj
    for _ in range(_CONFLICT_TRIES):
        if current is None:
            return
        meta = current.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp") or FINALIZER in finalizers:
            obj["metadata"]["finalizers"] = finalizers
            return
        patch = {
            "metadata": {
                "finalizers": [*finalizers, FINALIZER],
                "resourceVersion": meta.get("resourceVersion"),  # or 409: read again
            }
        }
        try:
            written = kube.patch(API_VERSION, ref, patch, field_manager=manager)
        except ApiError as exc:
            if exc.code != 409:
                raise
            current = kube.get(API_VERSION, ref)
            continue
        obj["metadata"]["finalizers"] = written["metadata"].get("finalizers") or []
        obj["metadata"]["resourceVersion"] = written["metadata"].get("resourceVersion")
        return
    raise ApiError(f"adding the finalizer of {ref} kept conflicting", code=409, api_reason="")


def remove_finalizer(kube: KubeClient, ref: ObjectRef, manager: str) -> None:
    """Remove the finalizer from the live object, if it is there (fenced like any write)."""
    for _ in range(_CONFLICT_TRIES):
        current = kube.get(API_VERSION, ref)
        meta = (current or {}).get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if current is None or FINALIZER not in finalizers:
            return
        kept = [f for f in finalizers if f != FINALIZER]
        patch = {"metadata": {"finalizers": kept, "resourceVersion": meta["resourceVersion"]}}
        try:
            kube.patch(API_VERSION, ref, patch, field_manager=manager)
        except ApiError as exc:
            if exc.code != 409:
                raise
            continue
        return
    raise ApiError(f"removing the finalizer of {ref} kept conflicting", code=409, api_reason="")


class Finalizing:
    """One task per resource being deleted with the finalizer, on every replica that sees
    it: while another replica owns the resource it only waits (no request); its owner
    runs the cleanup, then removes the finalizer. A move of ownership mid-way stops the
    old owner's writes at the fence and the new owner starts over."""

    def __init__(self, runtime: Runtime, cleanup: Cleanup) -> None:
        self.runtime = runtime
        self.cleanup = cleanup
        self.latest: dict[tuple[str, Key], KubeObject | None] = {}
        self.tasks: dict[tuple[str, Key], asyncio.Task[None]] = {}

    def seen(self, kind: str, key: Key, body: Mapping[str, Any] | None, logger: Logger) -> None:
        """A watch event of the resource (None: it is gone); a deletion starts the task."""
        item = (kind, key)
        if body is None or not deleting(body):
            if item in self.tasks:
                self.latest[item] = None if body is None else _copy(body)
            return
        self.latest[item] = _copy(body)
        if item not in self.tasks:
            self.tasks[item] = asyncio.create_task(self._run(kind, key, logger))

    def stop_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()

    async def _run(self, kind: str, key: Key, logger: Logger) -> None:
        item = (kind, key)
        runtime = self.runtime
        ref = ObjectRef(GROUP, kind, key[0], key[1])
        manager = finalizer_manager(runtime)
        try:
            while (body := self.latest.get(item)) is not None and deleting(body):
                if not runtime.shards.owns(kind, key, labels_of(body)):
                    await asyncio.sleep(OWNER_RECHECK)
                    continue
                fence_writes(runtime, kind, key, body)
                try:
                    delay = await self.cleanup(kind, key, body, logger)
                    if delay is None:
                        await runtime.call(lambda: remove_finalizer(runtime.kube, ref, manager))
                        return
                except FencedError as exc:
                    logger.info("%s; the new owner finishes the deletion", exc.message)
                    continue
                except GitOpsError as exc:
                    logger.warning("deletion cleanup failed: %s: %s", exc.reason, exc.message)
                    delay = RETRY
                except Exception:  # a bug must not leave the finalizer forever
                    logger.exception("unexpected error during the deletion cleanup")
                    delay = RETRY
                await asyncio.sleep(delay)
        finally:
            self.tasks.pop(item, None)
            self.latest.pop(item, None)


def _copy(body: Mapping[str, Any]) -> KubeObject:
    copied: KubeObject = json.loads(json.dumps(dict(body)))
    return copied
