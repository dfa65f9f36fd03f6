"""Sharding as the daemons see it: this replica's membership (hash mode), which of the
resources it holds a daemon for it owns, the parking of the others, and the fences on
their writes (``shards.Shards`` decides; this module acts on the answers)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from . import metrics
from .api import APPLICATION_KIND, REPOSITORY_KIND, status_fields
from .errors import FencedError
from .kube import WRITE_FENCE, KubeClient, load_api_client
from .runtime import Key, Runtime, user_agent
from .sharding import View

PARKED_RECHECK = 60.0
"""Seconds a daemon of a resource another replica owns sleeps between checks (without
any request); ownership changes wake it at once."""


def join_shards(runtime: Runtime, loop: asyncio.AbstractEventLoop) -> None:
    """Hash mode: renew this replica's membership Lease (its own connection, so a busy
    reconcile pool never delays it); each new view wakes what moved to this replica."""
    shards = runtime.shards
    if not shards.enabled:
        return
    settings = runtime.settings
    kube = KubeClient(
        load_api_client(pool_size=2, user_agent=user_agent(shards)),
        field_manager=settings.field_manager,
    )

    def on_view(before: View | None, after: View) -> None:  # on the membership thread
        loop.call_soon_threadsafe(_ownership_changed, runtime)

    shards.start(kube, settings.leader_election_namespace, settings.shard_group, on_view)


def _ownership_changed(runtime: Runtime) -> None:
    """Wake the parked daemons whose resource is now this replica's; count what it owns."""
    shards = runtime.shards
    for kind, key in list(shards.parked):
        if shards.owns(kind, key, None):
            runtime.wake(kind, key)
    count_owned(runtime)


def count_owned(runtime: Runtime) -> None:
    shards = runtime.shards
    owned = {REPOSITORY_KIND: 0, APPLICATION_KIND: 0}
    for kind, _ in shards.active:
        owned[kind] = owned.get(kind, 0) + 1
    metrics.set_shard(len(shards.members()), owned if shards.acting() else dict.fromkeys(owned, 0))


def labels_of(body: Mapping[str, Any]) -> Mapping[str, str]:
    return dict((body.get("metadata") or {}).get("labels") or {})


def fence_writes(runtime: Runtime, kind: str, key: Key, body: Mapping[str, Any]) -> None:
    """Every write of this task, and of the threads it hands work to, passes the ownership
    fence of (kind, key) first (nothing when sharding is off)."""
    if runtime.shards.enabled:
        WRITE_FENCE.set(runtime.shards.fence(kind, key, lambda: labels_of(body)))


async def park_unless_owned(
    runtime: Runtime, kind: str, key: Key, body: Mapping[str, Any], logger: Any
) -> bool:
    """Whether this replica owns the resource now; if not, sleep (without any request)
    until ownership may have changed and return False."""
    shards = runtime.shards
    if not shards.owns(kind, key, labels_of(body)):
        if (kind, key) not in shards.parked and kind == APPLICATION_KIND:
            track_drift(runtime, key, None)
            if runtime.object_watches is not None:  # its waits are its owner's to watch
                runtime.object_watches.track(key, None, ())
        shards.parked.add((kind, key))
        if (kind, key) in shards.active:
            shards.active.discard((kind, key))
            count_owned(runtime)
        await runtime.sleep(kind, key, PARKED_RECHECK)
        return False
    if (kind, key) in shards.parked:
        shards.parked.discard((kind, key))
        logger.info("now owned by this replica (%s)", shards.identity)
    if shards.enabled and (kind, key) not in shards.active:
        shards.active.add((kind, key))
        count_owned(runtime)
        if kind == APPLICATION_KIND:
            track_drift(runtime, key, body)
    return True


def track_drift(runtime: Runtime, key: Key, body: Mapping[str, Any] | None) -> None:
    """The drift watches (``settings.drift_watches``) cover the objects of the Applications
    this replica owns, no other (``body`` None: the Application is gone)."""
    if runtime.drift_watches is None:
        return
    owned = body is not None and runtime.shards.owns(APPLICATION_KIND, key, labels_of(body))
    runtime.drift_watches.track(key, body.get("status") if body is not None and owned else None)


def unpark(runtime: Runtime, kind: str, key: Key) -> None:
    """The daemon of (kind, key) ends: it neither waits for nor holds the resource."""
    shards = runtime.shards
    shards.parked.discard((kind, key))
    if (kind, key) in shards.active:
        shards.active.discard((kind, key))
        count_owned(runtime)


def wake_if_now_owned(runtime: Runtime, kind: str, key: Key, body: Mapping[str, Any]) -> None:
    """Labels mode: a resource relabelled into this replica's selector wakes its daemon."""
    if (kind, key) in runtime.shards.parked and runtime.shards.owns(kind, key, labels_of(body)):
        runtime.wake(kind, key)


def delivery_of(repository: Mapping[str, Any] | None) -> str | None:
    """When the last push for a GitRepository arrived (at any replica), if ever."""
    if repository is None:
        return None
    return str(
        ((repository.get("status") or {}).get(status_fields.LAST_DELIVERY) or {}).get("time")
    )


def still_owned() -> bool:
    """Whether this task's write fence (if any) lets writes through now."""
    fence = WRITE_FENCE.get()
    try:
        if fence is not None:
            fence()
    except FencedError:
        return False
    return True


def with_shard(
    runtime: Runtime, status: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``status`` naming the replica that writes it (``status.shard``) when sharded; with
    sharding off, removing the ``status.shard`` an earlier sharded run left (``current``:
    the status as last read)."""
    if runtime.shards.enabled:
        return {**status, status_fields.SHARD: runtime.shards.identity}
    if (current or {}).get(status_fields.SHARD) is not None:
        return {**status, status_fields.SHARD: None}  # a merge patch's null removes it
    return status
