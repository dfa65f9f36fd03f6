"""One LIST for the steady passes of many Applications whose objects share a kind and a
namespace.

A steady pass (health refresh and drift check, every driftInterval) read each object of
its Application with a GET: with a thousand small Applications in one namespace, four
thousand GETs a minute, most of the operator's CPU while nothing changes. When at least
``LIST_THRESHOLD`` objects of one kind and namespace were asked for within ``ASK_WINDOW``
seconds (by any Applications of one identity), one LIST answers them all for as long as
the caller allows (``max_age``, at most ``MAX_AGE`` seconds).

An object is taken from a list only when the caller trusts it (``Trust``: the manager
trusts an object whose resourceVersion is the one it last applied or verified in sync);
any other, and any object the list lacks, is read with a GET, so a list taken before the
operator's own apply never passes for the live state. A refused LIST (a tenant may get
but not list) falls back to GETs. Health waits and plans never use these lists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from .errors import ApiError, NotFoundError
from .kube import KubeClient
from .objects import KubeObject, ObjectRef

LIST_THRESHOLD = 16
ASK_WINDOW = 120.0
"""Seconds an asked-for object counts towards ``LIST_THRESHOLD``."""
MAX_AGE = 30.0
"""Seconds a list is used at most, whatever the caller allows."""
PRUNE_EVERY = 10.0
"""Seconds between two sweeps of the objects asked for too long ago, per group."""

Group = tuple[str, str, str]  # apiVersion, kind, namespace
Trust = Callable[[ObjectRef, KubeObject], bool]


@dataclass(slots=True)
class SharedLists:
    """The recent lists of one identity's client, by apiVersion, kind and namespace."""

    _asked: dict[Group, dict[str, float]] = field(default_factory=dict)
    _lists: dict[Group, tuple[float, dict[str, KubeObject]]] = field(default_factory=dict)
    _refused: set[Group] = field(default_factory=set)
    _pruned: dict[Group, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listing: dict[Group, threading.Lock] = field(default_factory=dict)

    def lookup(
        self,
        kube: KubeClient,
        group: Group,
        refs: Collection[ObjectRef],
        max_age: float,
        trust: Trust,
    ) -> dict[ObjectRef, KubeObject]:
        """The objects of ``refs`` (all of ``group``) that a list no older than
        ``max_age`` holds and ``trust`` accepts; the caller reads the others."""
        now = time.monotonic()
        max_age = min(max_age, MAX_AGE)
        with self._lock:
            asked = self._asked.setdefault(group, {})
            for ref in refs:
                asked[ref.name] = now
            if len(asked) >= LIST_THRESHOLD and now - self._pruned.get(group, 0.0) > PRUNE_EVERY:
                self._pruned[group] = now
                for name in [n for n, at in asked.items() if now - at > ASK_WINDOW]:
                    del asked[name]
            many = len(asked) >= LIST_THRESHOLD and group not in self._refused
            listed = self._lists.get(group)
            self._drop_old(now)
            lock = self._listing.setdefault(group, threading.Lock())
        if listed is None or now - listed[0] > max_age:
            if not many:
                return {}
            with lock:  # one LIST at a time per group; the others wait and share it
                with self._lock:
                    listed = self._lists.get(group)
                if listed is None or time.monotonic() - listed[0] > max_age:
                    listed = self._list(kube, group)
                    if listed is None:
                        return {}
        by_name = listed[1]
        found = {}
        for ref in refs:
            obj = by_name.get(ref.name)
            if obj is not None and trust(ref, obj):
                found[ref] = obj
        return found

    def _list(self, kube: KubeClient, group: Group) -> tuple[float, dict[str, KubeObject]] | None:
        version, kind, namespace = group
        taken = time.monotonic()
        try:
            items = kube.list(version, kind, namespace or None)
        except (ApiError, NotFoundError) as exc:
            if not (isinstance(exc, ApiError) and exc.transient):
                with self._lock:
                    self._refused.add(group)  # e.g. no list RBAC: GETs from now on
            return None
        listed = (taken, {str((o.get("metadata") or {}).get("name", "")): o for o in items})
        with self._lock:
            self._lists[group] = listed
        return listed

    def _drop_old(self, now: float) -> None:
        """Forget lists too old to be used again (called with the lock held)."""
        for group in [g for g, (at, _) in self._lists.items() if now - at > MAX_AGE]:
            del self._lists[group]
