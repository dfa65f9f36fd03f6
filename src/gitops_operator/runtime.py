"""The operator's process-wide collaborators, and when a resource is woken.

Created once at startup and kept in kopf's memo; each resource's daemon sleeps on its own
event until its requeue time or a wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiohttp import web

from . import metrics
from .api import (
    APPLICATION_KIND,
    REQUESTED_AT_ANNOTATION,
    RETRY_ANNOTATION,
    ROLLBACK_AT_ANNOTATION,
    DependencyRef,
    parse_depends_on,
    status_fields,
)
from .api.dependencies import parse_object_dependencies
from .api.substitute import SourceKind
from .config import Settings
from .drift_watches import DriftWatches
from .errors import InvalidSpecError
from .kube import KubeClient, load_api_client
from .notify import Notifier
from .object_watches import ObjectWatches, WatchKey
from .receiver import PushRouter
from .reconcilers.accounts import service_account_user
from .reconcilers.application import ApplicationReconciler
from .reconcilers.decisions import dependency_blocker, unaffected_revision
from .reconcilers.unaffected import Settled, settled_state, to_wake
from .shards import Shards
from .source import GitSource
from .turns import Turns

Key = tuple[str, str]  # namespace, name
SourceKey = tuple[str, str, str]  # kind, namespace, name
API_RETRY = 2.0
"""Seconds between attempts to read or write a resource while the API server is down."""
T = TypeVar("T")
PASSES_PER_WORKER = 2
"""Passes under way at once per reconcile worker: each holds its resource's body (and,
queued for the pool, would hold it while thousands wait); twice the pool keeps it busy
between a pass's trips to it."""


@dataclass(slots=True)
class Runtime:
    """Process-wide collaborators, created once at startup and kept in kopf's memo."""

    settings: Settings
    kube: KubeClient
    git: GitSource
    applications: ApplicationReconciler
    executor: ThreadPoolExecutor
    router: PushRouter
    wakers: dict[tuple[str, Key], asyncio.Event] = field(default_factory=dict)
    webhook_runner: web.AppRunner | None = None
    apps_by_source: dict[Key, set[Key]] = field(default_factory=lambda: defaultdict(set))
    apps_by_substitute_source: dict[SourceKey, set[Key]] = field(
        default_factory=lambda: defaultdict(set)
    )
    """The Applications whose spec.postBuild.substituteFrom names each ConfigMap or
    Secret (kind, namespace, name): a change of one wakes them."""
    ready: dict[Key, tuple[Any, ...] | None] = field(default_factory=dict)
    """Each Application's readiness for its dependents at its last watch event: None, or
    what it is ready at (generation and applied revision)."""
    settled: dict[Key, Settled] = field(default_factory=dict)
    """Applications settled at their applied revision at their last watch event: a
    commit that changes none of their inputs does not wake them (``unaffected.to_wake``)."""
    started: dict[tuple[str, Key], tuple[Any, ...]] = field(default_factory=dict)
    """What the latest pass of each resource started from (see ``wake_if_asked``)."""
    gone: set[tuple[str, Key, str]] = field(default_factory=set)
    """Resources (kind, key, uid) deleted while their daemon runs: kopf stops a daemon
    when a deletion starts, which a resource without the finalizer skips."""
    queued: set[tuple[str, Key]] = field(default_factory=set)
    """Resources whose pass waits for the reconcile pool: it has not read its source yet,
    so a new artifact needs no wake-up (``controller.repository_changed``)."""
    object_watches: ObjectWatches | None = None
    """Watches of the objects (not Applications) that Applications wait for; set when
    the event loop runs."""
    notifier: Notifier | None = None
    """Alerts and Providers, and the deliveries of the Events they match."""
    drift_watches: DriftWatches | None = None
    """Watches of the kinds in use that ask for drift checks (``settings.drift_watches``)."""
    shards: Shards = field(default_factory=lambda: Shards.from_settings(Settings()))
    """Which resources this replica owns (``settings.sharding``)."""
    passes: Turns = field(default_factory=lambda: Turns(PASSES_PER_WORKER))
    """The passes that hold a copy of their resource at once (``reconcile_loop``)."""
    first: set[tuple[str, Key]] = field(default_factory=set)
    """Resources whose next pass goes before the others waiting (``wake_first``)."""

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        shards = Shards.from_settings(settings)
        kube = KubeClient(
            load_api_client(user_agent=user_agent(shards)), field_manager=settings.field_manager
        )
        git = GitSource.from_settings(settings)
        apps = ApplicationReconciler.from_settings(kube, git, settings)
        executor = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="reconcile")
        notifier = Notifier(
            kube,
            no_cross_namespace_refs=settings.no_cross_namespace_refs,
            allowed_hosts=settings.allowed_git_hosts,
        )
        router = PushRouter(kube, settings.webhook_secret)
        passes = Turns(PASSES_PER_WORKER * settings.concurrency)
        return cls(
            settings,
            kube,
            git,
            apps,
            executor,
            router,
            notifier=notifier,
            shards=shards,
            passes=passes,
        )

    def waker(self, kind: str, key: Key) -> asyncio.Event:
        return self.wakers.setdefault((kind, key), asyncio.Event())

    def wake(self, kind: str, key: Key) -> None:
        self.waker(kind, key).set()

    def wake_first(self, kind: str, key: Key) -> None:
        """Wake a resource whose next pass is cheap and ends a wait (its health wait's
        objects settled): it goes before the passes already waiting for their turn."""
        self.first.add((kind, key))
        self.wake(kind, key)

    def check_drift(self, app: Key) -> None:
        """Wake an Application for a drift check now, whatever its driftInterval."""
        self.applications.drift_asked[app] = True
        self.wake(APPLICATION_KIND, app)

    async def sleep(self, kind: str, key: Key, seconds: float) -> None:
        """Sleep ``seconds`` or until woken, whichever comes first."""
        event = self.waker(kind, key)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(seconds, 0.0))
        event.clear()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run blocking reconcile work on the bounded reconcile pool, in a copy of the
        calling task's context (its write fence, ``kube.WRITE_FENCE``)."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self.executor, context.run, fn)


def user_agent(shards: Shards) -> str | None:
    """Sharded, each replica names itself in its requests' User-Agent (audit logs tell
    the replicas apart; the field manager stays the same)."""
    return f"gitops-operator/{shards.identity}" if shards.enabled else None


_ASKED = (
    (REQUESTED_AT_ANNOTATION, status_fields.LAST_HANDLED_RECONCILE_AT),
    (RETRY_ANNOTATION, status_fields.LAST_HANDLED_RETRY_AT),
    (ROLLBACK_AT_ANNOTATION, status_fields.LAST_HANDLED_ROLLBACK_AT),
)


class WakeUps(Protocol):
    """What deciding a wake-up needs of the runtime (``Runtime`` has it)."""

    started: dict[tuple[str, Key], tuple[Any, ...]]

    def wake(self, kind: str, key: Key) -> None: ...


class Dependencies(Protocol):
    @property
    def dependencies(self) -> dict[DependencyRef, tuple[DependencyRef, ...]]: ...


class DependencyWakeUps(Protocol):
    """What tracking ``dependsOn`` needs of the runtime (``Runtime`` has it)."""

    ready: dict[Key, tuple[Any, ...] | None]

    @property
    def applications(self) -> Dependencies: ...


def wake_if_asked(runtime: WakeUps, kind: str, key: Key, body: Mapping[str, Any]) -> None:
    """Wake on a spec change or a new value of an annotation that asks for action, unless
    the pass running (or last run) already started from that request: the operator's own
    status writes must not schedule another pass."""
    status = body.get("status") or {}
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    pending = meta.get("generation") != status.get("observedGeneration") or any(
        annotations.get(a) and annotations.get(a) != status.get(handled) for a, handled in _ASKED
    )
    if pending and runtime.started.get((kind, key)) != request_of(body):
        runtime.wake(kind, key)


def request_of(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a pass was asked to do: the generation and the annotations that ask."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return (meta.get("generation"), *(annotations.get(a) for a, _ in _ASKED))


def track_dependencies(
    runtime: DependencyWakeUps, key: Key, body: Mapping[str, Any] | None
) -> list[Key]:
    """Record an Application's ``spec.dependsOn`` (``body`` None: it is gone) and return
    the Applications that depend on it, when it has just turned ready for them (or is
    ready at a new revision or generation)."""
    me = DependencyRef(*key)
    graph = runtime.applications.dependencies
    if body is None:
        graph.pop(me, None)
        runtime.ready.pop(key, None)
        return []
    graph[me] = parse_depends_on(dict(body.get("spec") or {}), key[0])
    status = body.get("status") or {}
    ready = (
        (
            (body.get("metadata") or {}).get("generation"),
            status.get(status_fields.LAST_APPLIED_REVISION),
            unaffected_revision(status),
        )
        if dependency_blocker(dict(body)) is None
        else None
    )
    was_ready = runtime.ready.get(key)
    runtime.ready[key] = ready
    if ready is None or ready == was_ready:
        return []
    return sorted((d.namespace, d.name) for d, deps in graph.items() if me in deps)


async def wake_for_revision(runtime: Runtime, repository: Key, url: str, sha: str) -> None:
    """Wake the Applications of ``repository`` that its new commit ``sha`` may change
    (``unaffected.to_wake``; the Git diff runs off the event loop)."""
    apps = runtime.apps_by_source.get(repository, set())
    woken = await asyncio.to_thread(
        to_wake,
        sorted(apps),
        url,
        sha,
        dict(runtime.settled),
        dict(runtime.applications.inputs_seen),
        dict(runtime.applications.dependencies),
        runtime.git.changed_paths,
    )
    for app in woken:
        if (APPLICATION_KIND, app) not in runtime.queued:  # a queued pass reads it anyway
            runtime.wake(APPLICATION_KIND, app)
    metrics.count_revision_wakeups(len(woken), len(apps) - len(woken))


def track_settled(settled: dict[Key, Settled], key: Key, body: Mapping[str, Any] | None) -> None:
    """Record whether an Application is settled at its applied revision (``body`` None:
    it is gone)."""
    state = None if body is None else settled_state(body)
    if state is None:
        settled.pop(key, None)
    else:
        settled[key] = state


def track_substitute_sources(
    index: dict[SourceKey, set[Key]], key: Key, body: Mapping[str, Any] | None
) -> None:
    """Record which ConfigMaps and Secrets an Application's ``spec.postBuild.substituteFrom``
    names (``body`` None: it is gone); always in the Application's own namespace."""
    for source in [s for s, apps in index.items() if key in apps]:
        index[source].discard(key)
        if not index[source]:
            del index[source]
    post_build = ((body or {}).get("spec") or {}).get("postBuild") or {}
    for source in post_build.get("substituteFrom") or ():
        if isinstance(source, dict) and source.get("kind") in set(SourceKind):
            index.setdefault((str(source["kind"]), key[0], str(source.get("name"))), set()).add(key)


def waited_objects(
    runtime: Runtime, key: Key, body: Mapping[str, Any] | None
) -> tuple[Callable[[], KubeClient] | None, list[WatchKey]]:
    """How to get the client (the Application's identity; it may need a discovery, so
    not on the event loop) and the objects of its ``spec.dependsOn`` to watch: while it
    waits for a dependency (Ready reason DependencyNotReady), each object entry."""
    conditions = ((body or {}).get("status") or {}).get("conditions") or []
    ready: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
    if body is None or ready.get("reason") != "DependencyNotReady":
        return None, []
    spec = body.get("spec") or {}
    try:
        objects = parse_object_dependencies(spec.get("dependsOn"), key[0])
    except InvalidSpecError:
        return None, []
    if not objects:
        return None, []
    apps = runtime.applications
    own = str(spec.get("serviceAccountName") or "")
    account = own or apps.default_service_account
    identity = service_account_user(key[0], account) if account else ""
    return (
        lambda: apps.manager_for(key[0], own).kube,
        [(identity, o.api_version, o.kind, o.namespace, o.name) for o in objects],
    )
