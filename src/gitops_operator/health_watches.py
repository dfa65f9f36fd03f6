"""Health waits answered by watches, not reads.

Right after an apply, a Deployment (or any object whose health its controller writes
later) is seldom healthy yet, and a health wait would read it again and again until it
is. Instead, once one object of a kind was found not healthy right after its apply
(``want``), the drift watch of that kind (``drift_watches``) streams whole objects, not
only their metadata, and hands each event here (``seen``). An Application about to
apply objects of such a kind says so first (``expect``); every later event of those
objects is judged with the Application's health rules as it arrives, and the Application
is woken when none of them is Progressing any more (or one is Degraded). Its passes take
the health of those objects from here (``health_of``) instead of reading them.

Only what the stream saw without a gap is trusted: an object counts only if its kind has
been streamed whole since before the Application's ``expect`` (so every event after its
apply reached this module) and the apply's own answer was recorded (``applied``). A
stream that had to start again from now (410 Gone, a refused or stopped watch) makes
those passes read, as they do for a kind never streamed, a remote destination, or with
``GITOPS_DRIFT_WATCHES=false``.

Memory: nothing of the objects is kept, only, per object waited for, its id, the newest
resourceVersion seen and its Health, until the wait ends. CPU: every event of a kind
streamed whole is parsed whole, the cluster's other objects of that kind too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .health import Health, HealthRules, HealthStatus, assess

AppKey = tuple[str, str]  # an Application's namespace and name
Kind = tuple[str, str]  # apiVersion, kind: one stream


def version_of(obj: Mapping[str, Any] | None) -> int:
    """An object's resourceVersion as a number (0: none, or not one): the API server's
    are etcd revisions, so a later state of one object has a larger one."""
    raw = ((obj or {}).get("metadata") or {}).get("resourceVersion")
    try:
        return int(str(raw))
    except ValueError:
        return 0


@dataclass(slots=True)
class _Expected:
    app: AppKey
    kind: Kind
    rules: HealthRules
    since: float
    """When it was expected (monotonic): its stream must be whole since then."""
    version: int = 0
    health: Health | None = None
    applied: bool = False
    """The apply's answer was recorded: from then on ``health`` is the newest."""


@dataclass(slots=True)
class HealthWatches:
    """The objects Applications wait for and what their streams last said of them;
    ``wake`` and ``on_want`` must be thread-safe."""

    wake: Callable[[AppKey], None]
    on_want: Callable[[Kind], None] = lambda kind: None
    """Called once per kind newly wanted whole (the drift watches restart its stream)."""
    _wanted: set[Kind] = field(default_factory=set)
    _whole_since: dict[Kind, float] = field(default_factory=dict)
    _expected: dict[str, _Expected] = field(default_factory=dict)
    _by_app: dict[AppKey, frozenset[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the streams' side (drift watch threads) ------------------------------------------

    def wants(self, kind: Kind) -> bool:
        """Whether the stream of ``kind`` should carry whole objects."""
        return kind in self._wanted

    def streaming(self, kind: Kind, since: float | None) -> None:
        """The stream of ``kind`` carries whole objects and has missed none since
        ``since`` (monotonic); None: it stopped, or missed some."""
        with self._lock:
            if since is None:
                self._whole_since.pop(kind, None)
            else:
                self._whole_since[kind] = since

    def seen(self, ident: str, event_type: str, obj: Mapping[str, Any]) -> None:
        """One event of a stream of whole objects; ``ident`` is the object's inventory id."""
        expected = self._expected.get(ident)
        version = version_of(obj)
        if expected is None or version <= expected.version:  # a replay: not judged again
            return
        if event_type == "DELETED":
            health = Health(HealthStatus.MISSING, "Resource does not exist")
        else:
            health = assess(dict(obj), expected.rules)
        with self._lock:
            current = self._expected.get(ident)
            if current is None or version <= current.version:
                return
            before = self._settled(current.app)
            current.version, current.health = version, health
            woken = not before and self._settled(current.app)
        if woken:
            self.wake(current.app)

    # -- the Applications' side (reconcile threads) ---------------------------------------

    def want(self, kinds: Iterable[Kind]) -> None:
        """Stream ``kinds`` whole from now on: an object of each was not healthy right
        after its apply."""
        with self._lock:
            new = [kind for kind in set(kinds) if kind not in self._wanted]
            self._wanted.update(new)
        for kind in new:
            self.on_want(kind)

    def expect(self, app: AppKey, objects: Mapping[str, Kind], rules: HealthRules) -> None:
        """``app`` is about to apply ``objects`` (inventory id -> kind): keep what the
        streams say of those whose kind is streamed whole now; forget what it expected
        before."""
        now = time.monotonic()
        with self._lock:
            self._drop(app)
            mine = [ident for ident, kind in objects.items() if kind in self._whole_since]
            for ident in mine:
                self._expected[ident] = _Expected(app, objects[ident], rules, now)
            if mine:
                self._by_app[app] = frozenset(mine)

    def applied(self, answers: Iterable[tuple[str, Mapping[str, Any], Health]]) -> None:
        """The apply's answers for expected objects (inventory id, object, its health)."""
        with self._lock:
            for ident, obj, health in answers:
                expected = self._expected.get(ident)
                version = version_of(obj)
                if expected is None or not version:
                    continue
                if version > expected.version:
                    expected.version, expected.health = version, health
                expected.applied = True

    def health_of(self, ident: str) -> Health | None:
        """The newest health of an expected object, when nothing of it can have been
        missed; None: read it."""
        with self._lock:
            expected = self._expected.get(ident)
            if expected is None or not expected.applied or expected.health is None:
                return None
            since = self._whole_since.get(expected.kind)
            if since is None or since > expected.since:
                return None
            return expected.health

    def forget(self, app: AppKey) -> None:
        """``app``'s wait is over, or it is gone."""
        with self._lock:
            self._drop(app)

    def count(self) -> int:
        """How many objects are waited for."""
        return len(self._expected)

    def _drop(self, app: AppKey) -> None:
        for ident in self._by_app.pop(app, ()):
            if (found := self._expected.get(ident)) is not None and found.app == app:
                del self._expected[ident]

    def _settled(self, app: AppKey) -> bool:
        """Of the objects ``app`` applied and expects, none is Progressing any more, or one
        is Degraded: a pass has something to decide. (Those of its later sync waves are
        not applied yet: their passes read them.)"""
        states = [
            e.health.status
            for ident in self._by_app.get(app, ())
            if (e := self._expected.get(ident)) is not None and e.applied and e.health is not None
        ]
        return bool(states) and (
            HealthStatus.DEGRADED in states or HealthStatus.PROGRESSING not in states
        )
