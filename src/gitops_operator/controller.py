"""kopf wiring: one long-lived daemon per resource, woken early by spec changes, the
``requestedAt`` annotation and new artifacts of a source.

Level-triggered: every reconcile reads the object afresh and compares Git with the
cluster; nothing depends on which field changed. Status, conditions and Events of a
reconcile are written in one place (``_finish``), whatever the reconcile raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import kopf
from aiohttp import web

from . import conditions, inventory, metrics
from .api import (
    API_VERSION,
    APPLICATION_KIND,
    APPLICATION_PLURAL,
    DEFAULT_APPLICATION_INTERVAL,
    GROUP,
    REPOSITORY_KIND,
    REPOSITORY_PLURAL,
    REQUESTED_AT_ANNOTATION,
    RETRY_ANNOTATION,
    ROLLBACK_TO_ANNOTATION,
    VERSION,
    DeletionPolicy,
    parse_duration,
)
from .config import Settings
from .errors import ApiError, GitOpsError, RetryableError, StalledError
from .kube import KubeClient, load_api_client
from .objects import KubeObject, ObjectRef
from .receiver import PushRouter
from .reconcilers.application import ApplicationReconciler
from .reconcilers.gitrepository import reconcile_repository
from .reconcilers.outcome import Event, Outcome
from .source import GitSource
from .webhook import PushEvent, make_app

Key = tuple[str, str]  # namespace, name
API_RETRY = 2.0
"""Seconds between attempts to read a resource while the API server is unreachable."""
Logger = logging.Logger | logging.LoggerAdapter[Any]


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
    started: dict[tuple[str, Key], tuple[Any, ...]] = field(default_factory=dict)
    """What the latest pass of each resource started from (see ``_wake_if_asked``)."""

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        kube = KubeClient(load_api_client(), field_manager=settings.field_manager)
        git = GitSource(settings.cache_dir, allow_local=settings.allow_local_sources)
        apps = ApplicationReconciler.from_settings(kube, git, settings)
        executor = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="reconcile")
        return cls(settings, kube, git, apps, executor, PushRouter(kube, settings.webhook_secret))

    def waker(self, kind: str, key: Key) -> asyncio.Event:
        return self.wakers.setdefault((kind, key), asyncio.Event())

    def wake(self, kind: str, key: Key) -> None:
        self.waker(kind, key).set()

    async def sleep(self, kind: str, key: Key, seconds: float) -> None:
        """Sleep ``seconds`` or until woken, whichever comes first."""
        event = self.waker(kind, key)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(seconds, 0.0))
        event.clear()

    async def call(self, fn: Callable[[], Outcome]) -> Outcome:
        """Run blocking reconcile work on the bounded reconcile pool."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)


@kopf.on.startup()
async def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    settings.posting.level = logging.WARNING
    # Events name the operator, as Argo CD's and Flux's name their controllers
    settings.posting.reporting_component = "gitops-operator"
    settings.posting.reporting_instance = os.environ.get("HOSTNAME", "") or "gitops-operator"
    settings.posting.event_name_prefix = "gitops-operator-"
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.watching.server_timeout = 300
    runtime = Runtime.create(Settings.from_env())
    memo.runtime = runtime
    if runtime.settings.metrics_port:
        metrics.serve(runtime.settings.metrics_port)
    if runtime.settings.webhook_port:
        await _start_webhooks(runtime, logger)


async def _start_webhooks(runtime: Runtime, logger: Logger) -> None:
    """Serve POST /hooks/<provider>: a verified push wakes every matching GitRepository."""

    async def on_push(event: PushEvent) -> int:
        keys = runtime.router.match(event)
        loop = asyncio.get_running_loop()
        for key in keys:
            runtime.wake(REPOSITORY_KIND, key)
            await loop.run_in_executor(runtime.executor, runtime.router.record, key, event, _now())
        logger.info(
            "push of %s (%s) triggered %d repositories", event.ref, event.sha[:12], len(keys)
        )
        return len(keys)

    app = make_app(
        runtime.router.secret,
        on_push,
        on_result=lambda provider, result: metrics.count_webhook(
            provider.value if provider else "unknown", result
        ),
    )
    runtime.webhook_runner = web.AppRunner(app, access_log=None)
    await runtime.webhook_runner.setup()
    await web.TCPSite(runtime.webhook_runner, "0.0.0.0", runtime.settings.webhook_port).start()  # noqa: S104 - serves the cluster
    logger.info("webhook receiver listening on :%d", runtime.settings.webhook_port)


@kopf.on.cleanup()
async def shutdown(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        if runtime.webhook_runner is not None:
            await runtime.webhook_runner.cleanup()
        runtime.executor.shutdown(wait=False, cancel_futures=True)


# -- wake-ups ------------------------------------------------------------------------------


_ASKED = (
    (REQUESTED_AT_ANNOTATION, "lastHandledReconcileAt"),
    (RETRY_ANNOTATION, "lastHandledRetryAt"),
    (ROLLBACK_TO_ANNOTATION, "lastHandledRollbackTo"),
)


def _wake_if_asked(runtime: Runtime, kind: str, key: Key, body: Mapping[str, Any]) -> None:
    """Wake on a spec change or a new value of an annotation that asks for action, unless
    the pass running (or last run) already started from that request: the operator's own
    status writes must not schedule another pass."""
    status = body.get("status") or {}
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    pending = meta.get("generation") != status.get("observedGeneration") or any(
        annotations.get(a) and annotations.get(a) != status.get(handled) for a, handled in _ASKED
    )
    if pending and runtime.started.get((kind, key)) != _request_of(body):
        runtime.wake(kind, key)


def _request_of(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a pass was asked to do: the generation and the annotations that ask."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return (meta.get("generation"), *(annotations.get(a) for a, _ in _ASKED))


@kopf.on.event(GROUP, VERSION, REPOSITORY_PLURAL)
async def repository_changed(body: kopf.Body, type: str, memo: kopf.Memo, **_: Any) -> None:
    """Track the repository for webhooks and for the Applications' reads; a new artifact
    wakes every Application that uses it."""
    runtime: Runtime = memo.runtime
    key = (str(body.metadata.namespace), str(body.metadata.name))
    runtime.router.track(key, None if type == "DELETED" else dict(body.get("spec") or {}))
    before = _artifact_sha(runtime.applications.repositories.get(key))
    if type == "DELETED":
        runtime.applications.repositories.pop(key, None)
    else:
        runtime.applications.repositories[key] = copy.deepcopy(dict(body))
    if _artifact_sha(runtime.applications.repositories.get(key)) not in (None, before):
        for app in runtime.apps_by_source.get(key, set()):
            runtime.wake(APPLICATION_KIND, app)
    _wake_if_asked(runtime, REPOSITORY_KIND, key, body)


def _artifact_sha(repository: KubeObject | None) -> str | None:
    sha = (((repository or {}).get("status") or {}).get("artifact") or {}).get("sha")
    return str(sha) if sha else None


@kopf.on.event(GROUP, VERSION, APPLICATION_PLURAL)
async def application_changed(body: kopf.Body, type: str, memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    key = (str(body.metadata.namespace), str(body.metadata.name))
    for apps in runtime.apps_by_source.values():
        apps.discard(key)
    if type != "DELETED":
        source = body.get("spec", {}).get("sourceRef") or {}
        source_key = (str(source.get("namespace") or key[0]), str(source.get("name", "")))
        runtime.apps_by_source[source_key].add(key)
    _wake_if_asked(runtime, APPLICATION_KIND, key, body)


# -- daemons -------------------------------------------------------------------------------


@kopf.daemon(GROUP, VERSION, REPOSITORY_PLURAL, cancellation_timeout=10.0)
async def repository_daemon(
    body: kopf.Body, name: str, namespace: str | None, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    runtime: Runtime = memo.runtime
    key = (str(namespace), name)

    def work(obj: KubeObject) -> Outcome:
        return reconcile_repository(obj, runtime.git, runtime.kube, now=_now())

    await _daemon(runtime, body, REPOSITORY_KIND, key, logger, work)


@kopf.daemon(GROUP, VERSION, APPLICATION_PLURAL, cancellation_timeout=10.0)
async def application_daemon(
    body: kopf.Body, name: str, namespace: str | None, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    runtime: Runtime = memo.runtime
    ref = ObjectRef(GROUP, APPLICATION_KIND, str(namespace), name)

    def work(obj: KubeObject) -> Outcome:
        def write(status: dict[str, Any]) -> None:
            runtime.kube.patch_status(API_VERSION, ref, status)
            obj["status"] = {**(obj.get("status") or {}), **status}  # what _finish compares to

        return runtime.applications.reconcile(obj, write_status=write, now=_now(), logger=logger)

    await _daemon(runtime, body, APPLICATION_KIND, (str(namespace), name), logger, work)


async def _daemon(
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
    while True:
        try:
            obj = await _fresh(runtime, ref)
        except GitOpsError as exc:
            logger.warning("cannot read %s: %s", ref, exc.message)
            await runtime.sleep(kind, key, API_RETRY)
            continue
        if obj is None:
            runtime.started.pop((kind, key), None)
            return
        runtime.started[(kind, key)] = _request_of(obj)
        outcome = await _reconcile(runtime, body, obj, ref, logger, partial(work, obj))
        await runtime.sleep(kind, key, outcome.requeue_after)


@kopf.on.delete(GROUP, VERSION, APPLICATION_PLURAL)
async def application_deleted(
    body: kopf.Body,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    logger: Logger,
    **_: Any,
) -> None:
    """deletionPolicy Delete prunes the inventory (objects marked prune: disabled stay);
    Orphan leaves every object in place."""
    runtime: Runtime = memo.runtime
    metrics.forget_application(str(namespace), name)
    runtime.applications.forget(str(namespace), name)
    if (body.get("spec") or {}).get(
        "deletionPolicy", DeletionPolicy.DELETE
    ) != DeletionPolicy.DELETE:
        logger.info("deletionPolicy Orphan: leaving the inventory in place")
        return
    owned = inventory.from_status(body.get("status") or {})
    if not owned:
        return
    loop = asyncio.get_running_loop()
    pruned = await loop.run_in_executor(
        runtime.executor,
        runtime.applications.manager_for(
            str(namespace), str((body.get("spec") or {}).get("serviceAccountName") or "")
        ).delete_all,
        owned,
    )
    logger.info("deleted %d object(s) of the inventory", len(pruned.changes.entries))
    if pruned.survivors:
        raise kopf.TemporaryError(
            f"{len(pruned.survivors)} object(s) could not be deleted:"
            f" {'; '.join(pruned.messages()[:3])}",
            delay=10,
        )


async def _fresh(runtime: Runtime, ref: ObjectRef) -> KubeObject | None:
    """The object as the API server has it now (the daemon's body may lag our writes)."""
    return await asyncio.get_running_loop().run_in_executor(
        runtime.executor, runtime.kube.get, API_VERSION, ref
    )


async def _reconcile(
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
    except GitOpsError as exc:
        result = "stalled" if isinstance(exc, StalledError) else "error"
        outcome = _failure(runtime, obj, exc)
        logger.warning("reconcile failed: %s: %s", exc.reason, exc.message)
    except Exception as exc:  # a bug must not stop the daemon: report it and retry later
        result = "error"
        logger.exception("unexpected error during reconcile")
        outcome = _failure(
            runtime, obj, GitOpsError(f"internal error: {exc}", reason="InternalError")
        )
    metrics.observe_reconcile(str(obj.get("kind")), result, time.monotonic() - started)
    await _write_outcome(runtime, obj, ref, outcome, logger)
    for event in outcome.events:
        kopf.event(
            body,
            type="Warning" if event.warning else "Normal",
            reason=event.reason,
            message=event.message,
        )
    return outcome


async def _write_outcome(
    runtime: Runtime, obj: KubeObject, ref: ObjectRef, outcome: Outcome, logger: Logger
) -> None:
    """Write the outcome's status; while the API server cannot take it, try again every
    ``API_RETRY`` seconds, so the status is right as soon as the server answers (the work
    is done: only its record is missing). Other refusals are logged once."""
    while True:
        try:
            await runtime.call(lambda: _finish(runtime, obj, ref, outcome))
            return
        except ApiError as exc:
            if not exc.transient:
                logger.warning("could not write status: %s", exc.message)
                return
            logger.info("could not write status, retrying in %.0fs: %s", API_RETRY, exc.message)
        except GitOpsError as exc:
            logger.warning("could not write status: %s", exc.message)
            return
        await asyncio.sleep(API_RETRY)


def _failure(runtime: Runtime, obj: KubeObject, exc: GitOpsError) -> Outcome:
    stalled = isinstance(exc, StalledError)
    interval = _interval_of(runtime, obj)
    if isinstance(exc, ApiError) and exc.transient:
        requeue = API_RETRY * 2.5  # the API server is down or overloaded: back soon
    elif isinstance(exc, RetryableError):
        requeue = min(exc.requeue_after, interval)
    elif isinstance(exc, StalledError):
        requeue = interval  # waits for a new commit, a spec change or an annotation
    else:
        requeue = min(runtime.settings.retry_interval, interval)
    ready = (
        conditions.get_condition(
            (obj.get("status") or {}).get("conditions") or [], conditions.ConditionType.READY
        )
        or {}
    )
    repeated = ready.get("status") in ("False", "Unknown") and ready.get("message") == exc.message
    status = {"sync": "OutOfSync"} if obj.get("kind") == APPLICATION_KIND else {}
    events = [] if repeated else [Event(exc.reason, exc.message, warning=exc.warning)]
    updates = (
        conditions.failed(exc.reason, exc.message, stalled=stalled)
        if exc.warning
        else conditions.progressing(exc.message)  # on its way, e.g. a source's first fetch
    )
    return Outcome(status, updates, requeue, events)


def _interval_of(runtime: Runtime, obj: KubeObject) -> float:
    default = "1m" if obj.get("kind") == REPOSITORY_KIND else DEFAULT_APPLICATION_INTERVAL
    try:
        return parse_duration(
            str((obj.get("spec") or {}).get("interval", default)), field_name="spec.interval"
        )
    except GitOpsError:
        return runtime.settings.retry_interval


def _finish(runtime: Runtime, obj: KubeObject, ref: ObjectRef, outcome: Outcome) -> Outcome:
    meta = obj["metadata"]
    generation = int(meta.get("generation", 0))
    old = obj.get("status") or {}
    status: dict[str, Any] = {
        **outcome.status,
        "observedGeneration": generation,
        "conditions": conditions.apply_updates(
            list(old.get("conditions") or []),
            outcome.conditions,
            generation=generation,
            now=_now(),
            clear=outcome.clear,
        ),
    }
    requested = (meta.get("annotations") or {}).get(REQUESTED_AT_ANNOTATION)
    if requested:
        status["lastHandledReconcileAt"] = requested
    if any(old.get(key) != value for key, value in status.items()):
        runtime.kube.patch_status(API_VERSION, ref, status)  # else it would change nothing
    if ref.kind == APPLICATION_KIND:
        merged = {**old, **status}
        metrics.set_application_info(
            ref.namespace,
            ref.name,
            source=str(((obj.get("spec") or {}).get("sourceRef") or {}).get("name", "")),
            revision=str(merged.get("lastAppliedRevision") or ""),
            sync=str(merged.get("sync") or "Unknown"),
            health=str(merged.get("health") or "Unknown"),
        )
    return outcome


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
