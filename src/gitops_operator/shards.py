"""This replica's part of the work: whether it owns a resource now, the fence its writes
pass, and which parked resources became its own (see ``sharding`` for the decisions)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

from .config import Settings
from .errors import FencedError
from .kube import KubeClient
from .shard_members import Membership
from .sharding import (
    LabelSelector,
    ShardingMode,
    Timing,
    View,
    acting,
    owns,
    parse_selector,
    shard_key,
)

Key = tuple[str, str]
Labels = Mapping[str, str] | None


def default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Shards:
    """Off: everything is owned. Labels: what the selector matches. Hash: what the ring
    of live members gives this replica, while it acts (see ``sharding.acting``)."""

    def __init__(
        self,
        mode: ShardingMode,
        identity: str,
        *,
        selector: LabelSelector | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.mode = mode
        self.identity = identity
        self.selector = selector
        self.timing = timing or Timing()
        self.membership: Membership | None = None
        self.parked: set[tuple[str, Key]] = set()
        """Daemons sleeping because their resource is another replica's."""
        self.active: set[tuple[str, Key]] = set()
        """Daemons of resources this replica owns."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Shards:
        """``ValueError`` for a selector that does not parse, labels mode without one, or
        a lease duration too short for the renew period."""
        identity = settings.shard_identity or default_identity()
        timing = Timing(settings.shard_renew_period, float(settings.lease_duration))
        if settings.sharding is ShardingMode.LABELS:
            if not settings.shard_selector.strip():
                raise ValueError("GITOPS_SHARDING=labels needs GITOPS_SHARD_SELECTOR")
            selector = parse_selector(settings.shard_selector)
            return cls(settings.sharding, identity, selector=selector, timing=timing)
        if settings.sharding is ShardingMode.HASH:
            timing.check()
        return cls(settings.sharding, identity, timing=timing)

    @property
    def enabled(self) -> bool:
        return self.mode is not ShardingMode.OFF

    def start(
        self,
        kube: KubeClient,
        namespace: str,
        group: str,
        on_view: Callable[[View | None, View], None],
    ) -> None:
        """Join the group (hash mode); nothing to do in the other modes."""
        if self.mode is not ShardingMode.HASH:
            return
        self.membership = Membership(
            kube,
            namespace=namespace,
            group=group,
            identity=self.identity,
            timing=self.timing,
            on_view=on_view,
        )
        self.membership.start()

    def stop(self) -> None:
        if self.membership is not None:
            self.membership.stop()

    def owns(self, kind: str, key: Key, labels: Labels) -> bool:
        match self.mode:
            case ShardingMode.OFF:
                return True
            case ShardingMode.LABELS:
                return self.selector is not None and self.selector.matches(labels)
        if self.membership is None:
            return False
        return owns(
            self.membership.standing,
            self.timing,
            shard_key(kind, key[0], key[1]),
            time.monotonic(),
        )

    def acting(self) -> bool:
        if self.mode is not ShardingMode.HASH:
            return True
        if self.membership is None:
            return False
        return acting(self.membership.standing, self.timing, time.monotonic())

    def fence(self, kind: str, key: Key, labels: Callable[[], Labels]) -> Callable[[], None]:
        """The check every write for ``kind`` ``key`` passes (``kube.WRITE_FENCE``)."""

        def check() -> None:
            if not self.owns(kind, key, labels()):
                raise FencedError(
                    f"{kind} {key[0]}/{key[1]} is not owned by replica {self.identity}"
                    " (sharding): write not sent"
                )

        return check

    def members(self) -> tuple[str, ...]:
        if self.membership is None or self.membership.standing.view is None:
            return ()
        return self.membership.standing.view.members
