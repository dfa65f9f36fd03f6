"""Membership of a shard group: this replica's own Lease, renewed every renew period, and
the group's Leases listed at the same time into a view of the live members."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from .api import GROUP
from .errors import ApiError, GitOpsError, NotFoundError
from .kube import KubeClient
from .objects import ObjectRef
from .sharding import MemberLease, MemberTracker, Standing, Timing, View

log = logging.getLogger(__name__)

LEASE_API = "coordination.k8s.io/v1"
GROUP_LABEL = f"{GROUP}/shard-group"
IDENTITY_ANNOTATION = f"{GROUP}/shard-identity"
FORGET_AFTER = 10
"""Lease durations after which an expired member's Lease is deleted (replicas of a
Deployment get new names: their Leases would pile up)."""


def lease_name(group: str, identity: str) -> str:
    name = re.sub(r"[^a-z0-9.-]+", "-", f"{group}-{identity}".lower()).strip("-.")
    return name[:253]


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Membership:
    """Renews this replica's Lease and keeps its ``Standing``; ``on_view`` is called (on
    the membership thread) with the previous and the new view after every listing."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        group: str,
        identity: str,
        timing: Timing,
        on_view: Callable[[View | None, View], None],
    ) -> None:
        timing.check()
        self.kube = kube
        self.namespace = namespace
        self.group = group
        self.identity = identity
        self.timing = timing
        self.on_view = on_view
        self.standing = Standing(identity, None, None, None)
        self._tracker = MemberTracker(timing.expire_after)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="shard-membership")
        self._ref = ObjectRef(
            "coordination.k8s.io", "Lease", namespace, lease_name(group, identity)
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop writing, then delete the Lease so the others take over at their next
        listing rather than after the lease duration."""
        self.standing = Standing(self.identity, None, None, None)
        self._stop.set()
        self._thread.join(timeout=self.timing.renew_period * 2)
        try:
            self.kube.delete(LEASE_API, self._ref)
        except GitOpsError as exc:
            log.warning("could not delete the membership Lease: %s", exc.message)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._renew(started)
                leases = self._list()
            except GitOpsError as exc:
                log.warning("membership: %s", exc.message)
            else:
                before = self.standing.view
                view = self._tracker.observe(leases, started)
                self.standing = Standing(
                    self.identity, self.standing.joined_at, self.standing.renewed_at, view
                )
                if before is None or before.members != view.members:
                    log.info("shard members: %s", ", ".join(view.members) or "none")
                try:
                    self.on_view(before, view)
                except Exception:
                    log.exception("membership: handling a new view failed")
            self._stop.wait(max(0.0, started + self.timing.renew_period - time.monotonic()))

    def _renew(self, started: float) -> None:
        body = {"spec": {"renewTime": _micro_time()}}
        try:
            self.kube.patch(LEASE_API, self._ref, body)
        except NotFoundError:
            self.kube.create(self._lease())
        standing = self.standing
        # After a gap longer than a view may be old (this replica was fenced), the others
        # may have counted it out: it joins anew, and waits for them to see it again.
        rejoined = (
            standing.joined_at is None
            or standing.renewed_at is None
            or started - standing.renewed_at > self.timing.max_view_age
        )
        if rejoined and standing.joined_at is not None:
            log.warning("membership Lease renewed after a gap: joining the group anew")
        joined = started if rejoined else standing.joined_at
        self.standing = Standing(self.identity, joined, started, standing.view)

    def _lease(self) -> dict[str, object]:
        now = _micro_time()
        return {
            "apiVersion": LEASE_API,
            "kind": "Lease",
            "metadata": {
                "name": self._ref.name,
                "namespace": self.namespace,
                "labels": {GROUP_LABEL: self.group},
                "annotations": {IDENTITY_ANNOTATION: self.identity},
            },
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self.timing.lease_duration)),
                "acquireTime": now,
                "renewTime": now,
            },
        }

    def _list(self) -> list[MemberLease]:
        found = []
        now = time.monotonic()
        for lease in self.kube.list(LEASE_API, "Lease", self.namespace):
            meta = lease.get("metadata") or {}
            if (meta.get("labels") or {}).get(GROUP_LABEL) != self.group:
                continue
            spec = lease.get("spec") or {}
            identity = str(spec.get("holderIdentity") or "")
            if not identity:
                continue
            found.append(MemberLease(identity, str(spec.get("renewTime") or "")))
            if self._tracker.expired_for(identity, now) > FORGET_AFTER * self.timing.lease_duration:
                self._forget(str(meta.get("name")))
        return found

    def _forget(self, name: str) -> None:
        try:
            self.kube.delete(
                LEASE_API, ObjectRef("coordination.k8s.io", "Lease", self.namespace, name)
            )
        except ApiError as exc:
            log.info("could not delete an expired membership Lease %s: %s", name, exc.message)
