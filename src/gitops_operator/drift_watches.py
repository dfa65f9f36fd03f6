"""Watch-driven drift: an edit, a scale or a delete of a managed object wakes the drift
check of its Application within a second, whatever its ``driftInterval``.

One metadata-only watch (PartialObjectMetadata: no spec, no status) per kind in use,
that is per apiVersion and kind found in the Applications' inventories, cluster-wide,
with the operator's own identity. Nothing of the watched objects is kept: each event is
looked up in the index of managed objects (inventory id -> Application) and dropped
unless it names one. An event the operator's own apply caused (the newest managedFields
entry is its field manager) or a status write wakes nothing; the drift check decides
the rest. Wake-ups are coalesced per Application for ``DEBOUNCE`` seconds, and are at
least ``SPACING`` seconds apart.

The watches only wake: the drift check that follows reads and dry-runs with the
Application's identity, as the periodic one does, and stays the safety net. A watch
that is refused (RBAC, a kind no longer served) is logged, counted
(``gitops_drift_watch_failures_total``) and tried again every ``RETRY`` seconds;
meanwhile ``driftInterval`` covers that kind.

A kind some health wait needs (``health_watches``: one of its objects was not healthy
right after its apply) is streamed whole instead, from the same resourceVersion on, and
its events also go to the health waits.

Memory: the index holds one string (the inventory id) per managed object, in a dict
and a frozenset: about 270 bytes per object (``bench/drift.py`` measures it); a kind
costs one thread and one connection.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, NotFoundError
from .health_watches import HealthWatches
from .kube import KubeClient
from .metrics import DRIFT_WAKEUPS, DRIFT_WATCH_FAILURES, DRIFT_WATCHES

Key = tuple[str, str]  # an Application's namespace and name
Kind = tuple[str, str]  # apiVersion, kind

DEBOUNCE = 0.3
"""Seconds the events of one Application are gathered into one wake-up."""
SPACING = 2.0
"""Seconds at least between two wake-ups of one Application."""
WATCH_TIMEOUT = 240
"""Seconds one watch request lasts before it is made again (and a stopped one ends)."""
RETRY = 60.0
"""Seconds before a refused watch (forbidden, kind not served) is tried again."""
ERROR_RETRY = 2.0
"""Seconds before a watch that broke otherwise (connection, server restart) resumes."""

log = logging.getLogger(__name__)


def object_id(group: str, kind: str, meta: Mapping[str, Any]) -> str:
    """The inventory id (``<namespace>_<name>_<group>_<kind>``) of a watched object."""
    return f"{meta.get('namespace') or ''}_{meta.get('name') or ''}_{group}_{kind}"


def inventory_of(status: Mapping[str, Any] | None) -> dict[str, Kind]:
    """An Application's ``status.inventory`` as inventory id -> (apiVersion, kind)."""
    entries = ((status or {}).get("inventory") or {}).get("entries") or []
    found: dict[str, Kind] = {}
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        ident, version = entry.get("id"), entry.get("v")
        if isinstance(ident, str) and isinstance(version, str) and ident.count("_") >= 3:
            found[sys.intern(ident)] = (sys.intern(version), ident.rsplit("_", 1)[1])
    return found


def caused_elsewhere(event_type: str, meta: Mapping[str, Any], field_manager: str) -> bool:
    """Whether a watch event may be drift: a deletion (or one that waits for finalizers),
    or a write whose newest managedFields entry is another manager's, not a status write."""
    if event_type == "DELETED" or (event_type == "MODIFIED" and meta.get("deletionTimestamp")):
        return True
    if event_type not in ("ADDED", "MODIFIED"):
        return False
    entries = [e for e in meta.get("managedFields") or [] if isinstance(e, dict)]
    if not entries:
        return True
    newest = max(str(e.get("time") or "") for e in entries)
    return any(
        str(e.get("time") or "") == newest
        and e.get("manager") != field_manager
        and e.get("subresource") != "status"
        for e in entries
    )


@dataclass(slots=True)
class Index:
    """Which Application owns each managed object, and how many objects use each kind."""

    objects: dict[str, Key] = field(default_factory=dict)
    by_app: dict[Key, frozenset[str]] = field(default_factory=dict)
    kinds: dict[Kind, int] = field(default_factory=dict)
    _kind_of: dict[str, Kind] = field(default_factory=dict)

    def update(self, app: Key, inventory: Mapping[str, Kind]) -> None:
        """Record ``app``'s inventory (empty: it owns nothing, or is gone). An object two
        Applications claim belongs to the last one recorded."""
        before = self.by_app.pop(app, frozenset())
        for ident in before - inventory.keys():
            if self.objects.get(ident) == app:
                del self.objects[ident]
                self._count(self._kind_of.pop(ident), -1)
        for ident, kind in inventory.items():
            if self.objects.get(ident) != app or self._kind_of.get(ident) != kind:
                if ident in self._kind_of:
                    self._count(self._kind_of[ident], -1)
                self.objects[ident] = app
                self._kind_of[ident] = kind
                self._count(kind, 1)
        if inventory:
            self.by_app[app] = frozenset(inventory)

    def _count(self, kind: Kind, delta: int) -> None:
        left = self.kinds.get(kind, 0) + delta
        if left > 0:
            self.kinds[kind] = left
        else:
            self.kinds.pop(kind, None)


@dataclass(slots=True)
class Debouncer:
    """Keys gathered for ``delay`` seconds from the first one, then handed out once; a
    key handed out is not handed out again within ``spacing`` seconds (an object that
    another controller keeps rewriting cannot make a selfHeal fight faster than that)."""

    delay: float
    spacing: float = 0.0
    _due: dict[Key, float] = field(default_factory=dict)
    _fired: dict[Key, float] = field(default_factory=dict)

    def add(self, key: Key, now: float) -> bool:
        """True when ``key`` was not pending yet."""
        if key in self._due:
            return False
        self._due[key] = max(now + self.delay, self._fired.get(key, 0.0) + self.spacing)
        return True

    def pop_due(self, now: float) -> list[Key]:
        due = [k for k, at in self._due.items() if at <= now]
        for key in due:
            del self._due[key]
        for key in [k for k, at in self._fired.items() if at + self.spacing <= now]:
            del self._fired[key]
        self._fired.update(dict.fromkeys(due, now) if self.spacing else {})
        return due

    def next_due(self) -> float | None:
        return min(self._due.values(), default=None)


@dataclass(slots=True)
class DriftWatches:
    """The watches of the kinds in use; ``wake`` (thread-safe) asks an Application's
    drift check now."""

    kube: KubeClient
    wake: Callable[[Key], None]
    debounce: float = DEBOUNCE
    health: HealthWatches | None = None
    """The health waits fed by the kinds streamed whole (``health_watches``)."""
    index: Index = field(default_factory=Index)
    _hashes: dict[Key, int] = field(default_factory=dict)
    _stops: dict[Kind, threading.Event] = field(default_factory=dict)
    _since: dict[Kind, str] = field(default_factory=dict)
    """The resourceVersion each kind's stream has reached: a restarted stream resumes."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: threading.Condition = field(default_factory=threading.Condition)
    _debouncer: Debouncer = field(default_factory=lambda: Debouncer(DEBOUNCE, SPACING))
    _flusher: threading.Thread | None = None

    def track(self, app: Key, status: Mapping[str, Any] | None) -> None:
        """Record the inventory of ``app`` from its status (None: it is gone); start the
        watches of kinds that came into use, stop those no longer used."""
        entries = ((status or {}).get("inventory") or {}).get("entries") or []
        digest = hash(tuple((e.get("id"), e.get("v")) for e in entries if isinstance(e, dict)))
        with self._lock:
            if self._hashes.get(app) == digest and status is not None:
                return
            if status is None:
                self._hashes.pop(app, None)
            else:
                self._hashes[app] = digest
            self.index.update(app, inventory_of(status))
            wanted = set(self.index.kinds)
            for kind in [k for k in self._stops if k not in wanted]:
                self._stops.pop(kind).set()
                self._since.pop(kind, None)
                if self.health is not None:
                    self.health.streaming(kind, None)
            for kind in wanted - self._stops.keys():
                self._start(kind)
            DRIFT_WATCHES.set(len(self._stops))
            if self._flusher is None:
                self._debouncer.delay = self.debounce
                self._flusher = threading.Thread(target=self._flush, name="drift-wake", daemon=True)
                self._flusher.start()

    def restart(self, kind: Kind) -> None:
        """Stream ``kind`` anew from where it is (whole, if the health waits want it)."""
        with self._lock:
            if kind in self._stops:
                self._stops.pop(kind).set()
                self._start(kind)

    def stop_all(self) -> None:
        with self._lock:
            for kind, stop in self._stops.items():
                stop.set()
                if self.health is not None:
                    self.health.streaming(kind, None)
            self._stops.clear()
            DRIFT_WATCHES.set(0)

    def _start(self, kind: Kind) -> None:
        stop = self._stops[kind] = threading.Event()
        threading.Thread(
            target=self._watch, args=(kind, stop), name="watch-drift", daemon=True
        ).start()

    def _watch(self, kind: Kind, stop: threading.Event) -> None:
        api_version, name = kind
        group = api_version.rpartition("/")[0]
        since, refused, whole = self._since.get(kind, ""), False, False
        health = self.health if self.health is not None and self.health.wants(kind) else None
        while not stop.is_set():
            if health is not None and since and not whole:  # every event after it comes whole
                health.streaming(kind, time.monotonic())
                whole = True
            try:
                for event in self.kube.watch_metadata(
                    api_version, name, since, WATCH_TIMEOUT, full=health is not None
                ):
                    if stop.is_set():
                        return
                    obj = event.get("object") or {}
                    meta = obj.get("metadata") or {}
                    if event.get("type") == "ERROR":  # 410 Gone: start again from now
                        since, whole = "", self._gap(kind, health)
                        stop.wait(ERROR_RETRY / 4)
                        break
                    since = self._since[kind] = str(meta.get("resourceVersion") or since)
                    if health is not None and not whole:  # listed: whole from here on
                        health.streaming(kind, time.monotonic())
                        whole = True
                    if refused:
                        refused = False
                        log.info("watch of %s %s works again", api_version, name)
                    event_type = str(event.get("type"))
                    self._seen(group, name, event_type, meta)
                    if health is not None and event_type != "BOOKMARK":
                        health.seen(object_id(group, name, meta), event_type, obj)
            except (ApiError, NotFoundError) as exc:
                code = exc.code if isinstance(exc, ApiError) else 404
                if code in (0, 429) or code >= 500:  # resumed from ``since``: nothing missed
                    log.info("watch of %s %s broke, resuming: %s", api_version, name, exc)
                    stop.wait(ERROR_RETRY)
                    continue
                if code == 410:  # too old a resourceVersion: start again from now
                    since, whole = "", self._gap(kind, health)
                    continue
                reason = {403: "forbidden", 404: "not_found"}.get(code, "refused")
                DRIFT_WATCH_FAILURES.labels(f"{api_version}/{name}", reason).inc()
                if not refused:
                    log.warning(
                        "watch of %s %s refused (%s): driftInterval alone finds its drift;"
                        " tried again every %.0fs",
                        api_version,
                        name,
                        exc,
                        RETRY,
                    )
                refused = True
                whole = self._gap(kind, health)  # health waits read until it works again
                stop.wait(RETRY)
            except Exception:  # a bug must not end drift detection for the kind
                log.exception("watch of %s %s failed", api_version, name)
                whole = self._gap(kind, health)  # the event it failed on was not judged
                stop.wait(RETRY)

    def _gap(self, kind: Kind, health: HealthWatches | None) -> bool:
        """The health waits may have missed events of ``kind``: they read until the stream
        is whole again. Returns False (not whole)."""
        if health is not None:
            health.streaming(kind, None)
        return False

    def _seen(self, group: str, kind: str, event_type: str, meta: Mapping[str, Any]) -> None:
        app = self.index.objects.get(object_id(group, kind, meta))
        if app is None or not caused_elsewhere(event_type, meta, self.kube.field_manager):
            return
        with self._pending:
            if self._debouncer.add(app, time.monotonic()):
                self._pending.notify()

    def _flush(self) -> None:
        while True:
            with self._pending:
                due = self._debouncer.pop_due(time.monotonic())
                if not due:
                    at = self._debouncer.next_due()
                    self._pending.wait(None if at is None else max(at - time.monotonic(), 0))
                    continue
            for app in due:
                DRIFT_WAKEUPS.labels(*app).inc()
                self.wake(app)
