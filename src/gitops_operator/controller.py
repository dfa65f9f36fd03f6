"""kopf wiring: one long-lived daemon per resource, woken early by spec changes, the
``requestedAt`` annotation and new artifacts of a source.

Level-triggered: every reconcile reads the object afresh and compares Git with the
cluster; nothing depends on which field changed. Status, conditions and Events of a
reconcile are written in one place (``status_writer``), whatever the reconcile raised.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import os
from functools import partial
from typing import Any, cast

import kopf
from aiohttp import web

from . import inventory, metrics
from .api import (
    API_VERSION,
    APPLICATION_KIND,
    APPLICATION_PLURAL,
    GROUP,
    REPOSITORY_KIND,
    REPOSITORY_PLURAL,
    VERSION,
    DeletionPolicy,
    status_fields,
)
from .api.destination import parse_destination
from .config import Settings
from .drift_watches import DriftWatches
from .errors import GitOpsError
from .finalizing import Finalizing, ensure_finalizer, finalizer_manager
from .notifications import post_events
from .object_watches import ObjectWatches
from .objects import KubeObject, ObjectRef
from .pr_queue import pull_request_handler
from .reconcile_loop import fresh, run_daemon
from .reconcilers.deletion import pre_delete
from .reconcilers.gitrepository import reconcile_repository
from .reconcilers.outcome import Outcome
from .runtime import (
    Key,
    Runtime,
    track_dependencies,
    track_settled,
    track_substitute_sources,
    waited_objects,
    wake_for_revision,
    wake_if_asked,
)
from .shard_wiring import (
    delivery_of,
    join_shards,
    labels_of,
    track_drift,
    wake_if_now_owned,
)
from .status_writer import now, write_outcome
from .webhook import PushEvent, Target, make_app

Logger = logging.Logger | logging.LoggerAdapter[Any]


@kopf.on.startup()
async def configure(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    settings.posting.level = logging.WARNING
    # Events name the operator, as Argo CD's and Flux's name their controllers
    settings.posting.reporting_component = "gitops-operator"
    settings.posting.reporting_instance = os.environ.get("HOSTNAME", "") or "gitops-operator"
    settings.posting.event_name_prefix = "gitops-operator-"
    # kopf holds no finalizer (``_without_kopf_finalizers``); the operator's own one
    # (``finalizing``) has another name, which kopf would otherwise remove
    settings.persistence.finalizer = f"{GROUP}/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = _NoDiffBase()
    settings.watching.server_timeout = 300
    runtime = Runtime.create(Settings.from_env())
    loop = asyncio.get_running_loop()

    def wake_application(app: Key) -> None:  # from a watch thread
        loop.call_soon_threadsafe(runtime.wake, APPLICATION_KIND, app)

    runtime.object_watches = ObjectWatches(wake_application)
    if runtime.settings.drift_watches:

        def check_drift(app: Key) -> None:  # from a watch thread
            loop.call_soon_threadsafe(runtime.check_drift, app)

        health = runtime.applications.health_watches
        runtime.drift_watches = DriftWatches(runtime.kube, check_drift, health=health)

        def health_settled(app: Key) -> None:  # from a watch thread
            loop.call_soon_threadsafe(runtime.wake_first, APPLICATION_KIND, app)

        health.wake, health.on_want = health_settled, runtime.drift_watches.restart
    memo.runtime = runtime
    memo.finalizing = Finalizing(runtime, partial(_cleanup, runtime))
    join_shards(runtime, loop)
    if runtime.settings.metrics_port:
        metrics.serve(runtime.settings.metrics_port)
    if runtime.settings.webhook_port:
        await _start_webhooks(runtime, logger)


class _NoDiffBase(kopf.DiffBaseStorage):
    """No last-handled state: the daemons are level-triggered and there is no on.create,
    on.update or on.resume handler to tell a change from, so kopf sees every event as no
    change (deletion is told by the finalizer). Storing kopf's annotation cost a PATCH of
    every new Application (and every spec change) and a deep copy of each event's body."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


async def _start_webhooks(runtime: Runtime, logger: Logger) -> None:
    """Serve POST /hooks/<provider>[/<namespace>/<name>]: a verified push wakes the matching
    GitRepositories (see ``receiver.py`` for which secret wakes which)."""

    async def on_push(event: PushEvent, target: Target) -> int:
        keys = runtime.router.match(event, target)
        loop = asyncio.get_running_loop()
        for key in keys:
            runtime.wake(REPOSITORY_KIND, key)
            await loop.run_in_executor(runtime.executor, runtime.router.record, key, event, now())
        logger.info(
            "push of %s (payload names %s, delivery %s) triggered %d repositories",
            event.ref,
            event.sha[:12],
            event.delivery or "-",
            len(keys),
        )
        return len(keys)

    app = make_app(
        runtime.router.secret,
        on_push,
        on_result=lambda provider, result: metrics.count_webhook(
            provider.value if provider else "unknown", result
        ),
        on_pull_request=pull_request_handler(runtime, logger),
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
        runtime.shards.stop()
        memo.finalizing.stop_all()
        if runtime.object_watches is not None:
            runtime.object_watches.stop_all()
        if runtime.drift_watches is not None:
            runtime.drift_watches.stop_all()


# -- wake-ups ------------------------------------------------------------------------------


@kopf.on.event(GROUP, VERSION, REPOSITORY_PLURAL)
async def repository_changed(
    body: kopf.Body, type: str, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    """Track the repository for webhooks and for the Applications' reads; a new artifact
    wakes every Application that uses it."""
    runtime: Runtime = memo.runtime
    key = (str(body.metadata.namespace), str(body.metadata.name))
    runtime.router.track(key, None if type == "DELETED" else dict(body.get("spec") or {}))
    previous = runtime.applications.repositories.get(key)
    before = _artifact_sha(previous)
    if type == "DELETED":
        runtime.applications.repositories.pop(key, None)
    else:
        runtime.applications.repositories[key] = copy.deepcopy(dict(body))
    sha = _artifact_sha(runtime.applications.repositories.get(key))
    if sha not in (None, before):
        await wake_for_revision(runtime, key, str((body.get("spec") or {}).get("url") or ""), sha)
    wake_if_asked(runtime, REPOSITORY_KIND, key, body)
    if type != "DELETED" and delivery_of(previous) not in (None, delivery_of(body)):
        runtime.wake(REPOSITORY_KIND, key)  # a push another replica received (sharding)
    wake_if_now_owned(runtime, REPOSITORY_KIND, key, body)
    memo.finalizing.seen(REPOSITORY_KIND, key, None if type == "DELETED" else body, logger)
    if type == "DELETED":
        _end_daemon(runtime, REPOSITORY_KIND, key, body)


def _artifact_sha(repository: KubeObject | None) -> str | None:
    sha = (((repository or {}).get("status") or {}).get(status_fields.ARTIFACT) or {}).get("sha")
    return str(sha) if sha else None


@kopf.on.event(GROUP, VERSION, APPLICATION_PLURAL)
async def application_changed(
    body: kopf.Body, type: str, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    runtime: Runtime = memo.runtime
    key = (str(body.metadata.namespace), str(body.metadata.name))
    for apps in runtime.apps_by_source.values():
        apps.discard(key)
    if type == "DELETED":  # whichever replica reconciled it last
        metrics.forget_application(*key)
        runtime.applications.forget(*key)
    else:
        source = body.get("spec", {}).get("sourceRef") or {}
        source_key = (str(source.get("namespace") or key[0]), str(source.get("name", "")))
        runtime.apps_by_source[source_key].add(key)
    for dependent in track_dependencies(runtime, key, None if type == "DELETED" else body):
        runtime.wake(APPLICATION_KIND, dependent)
    track_substitute_sources(
        runtime.apps_by_substitute_source, key, None if type == "DELETED" else body
    )
    if runtime.object_watches is not None:  # those of the Applications this replica owns
        owned = type != "DELETED" and runtime.shards.owns(APPLICATION_KIND, key, labels_of(body))
        client_of, objects = waited_objects(runtime, key, body if owned else None)
        client = await runtime.call(client_of) if client_of is not None else None
        runtime.object_watches.track(key, client, objects)
    track_drift(runtime, key, None if type == "DELETED" else body)
    track_settled(runtime.settled, key, None if type == "DELETED" else body)
    wake_if_asked(runtime, APPLICATION_KIND, key, body)
    wake_if_now_owned(runtime, APPLICATION_KIND, key, body)
    memo.finalizing.seen(APPLICATION_KIND, key, None if type == "DELETED" else body, logger)
    if type == "DELETED":
        _end_daemon(runtime, APPLICATION_KIND, key, body)


def _end_daemon(runtime: Runtime, kind: str, key: Key, body: kopf.Body) -> None:
    """A deletion kopf saw no start of (no finalizer yet): the daemon, which kopf does not
    stop then, ends at its next wake-up (a parked one would sleep on forever)."""
    if not (body.get("metadata") or {}).get("deletionTimestamp"):
        runtime.gone.add((kind, key, str(body.metadata.get("uid") or "")))
        runtime.wake(kind, key)


def _named_config_map(body: kopf.Body, memo: kopf.Memo, **_: Any) -> bool:
    return _source_key("ConfigMap", body) in memo.runtime.apps_by_substitute_source


def _named_secret(body: kopf.Body, memo: kopf.Memo, **_: Any) -> bool:
    return _source_key("Secret", body) in memo.runtime.apps_by_substitute_source


@kopf.on.event("", "v1", "configmaps", when=_named_config_map)
async def config_map_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    _wake_substituting(memo.runtime, _source_key("ConfigMap", body))


@kopf.on.event("", "v1", "secrets", when=_named_secret)
async def secret_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    _wake_substituting(memo.runtime, _source_key("Secret", body))


def _source_key(kind: str, body: kopf.Body) -> tuple[str, str, str]:
    return (kind, str(body.metadata.namespace), str(body.metadata.name))


def _wake_substituting(runtime: Runtime, source: tuple[str, str, str]) -> None:
    """A ConfigMap or Secret that some Application's postBuild.substituteFrom names was
    created, changed or deleted: wake those Applications (they compare its version with
    the one they last synced with). Only its name is looked at (the ``when`` filters keep
    every other one from reaching a handler, or the log), and its body is not kept."""
    for app in runtime.apps_by_substitute_source.get(source, ()):
        runtime.wake(APPLICATION_KIND, app)


# -- daemons -------------------------------------------------------------------------------


@kopf.daemon(GROUP, VERSION, REPOSITORY_PLURAL, cancellation_timeout=10.0)
async def repository_daemon(
    body: kopf.Body, name: str, namespace: str | None, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    runtime: Runtime = memo.runtime
    key = (str(namespace), name)

    ref = ObjectRef(GROUP, REPOSITORY_KIND, str(namespace), name)
    manager = finalizer_manager(runtime)

    def work(obj: KubeObject) -> Outcome:
        ensure_finalizer(runtime.kube, ref, obj, manager)
        return reconcile_repository(obj, runtime.git, runtime.kube, now=now())

    await run_daemon(runtime, body, REPOSITORY_KIND, key, logger, work)


@kopf.daemon(GROUP, VERSION, APPLICATION_PLURAL, cancellation_timeout=10.0)
async def application_daemon(
    body: kopf.Body, name: str, namespace: str | None, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    runtime: Runtime = memo.runtime
    ref = ObjectRef(GROUP, APPLICATION_KIND, str(namespace), name)
    manager = finalizer_manager(runtime)

    def work(obj: KubeObject) -> Outcome:
        ensure_finalizer(runtime.kube, ref, obj, manager)  # before anything is applied

        def write(status: dict[str, Any]) -> None:
            version = runtime.kube.patch_status(API_VERSION, ref, status)
            obj["status"] = {**(obj.get("status") or {}), **status}  # what finish() compares to
            obj["metadata"]["resourceVersion"] = version

        return runtime.applications.reconcile(obj, write_status=write, now=now(), logger=logger)

    await run_daemon(runtime, body, APPLICATION_KIND, (str(namespace), name), logger, work)


async def _cleanup(
    runtime: Runtime, kind: str, key: Key, body: KubeObject, logger: Logger
) -> float | None:
    if kind != APPLICATION_KIND:
        return None  # a GitRepository leaves nothing behind
    return await _delete_application(runtime, body, key[0], key[1], logger)


async def _delete_application(
    runtime: Runtime, body: KubeObject, namespace: str, name: str, logger: Logger
) -> float | None:
    """deletionPolicy Delete prunes the inventory (objects marked prune: disabled stay),
    once the last applied revision's PreDelete hooks have succeeded (``pre_delete``: called
    again after the returned delay while they run; a failed one keeps the finalizer);
    Orphan leaves every object in place. Runs as the Application's owner
    (``finalizing``); None: done, the finalizer may go."""
    event_body = kopf.Body(cast(kopf.RawBody, body))
    metrics.forget_application(str(namespace), name)
    runtime.applications.forget(str(namespace), name)
    ref = ObjectRef(GROUP, APPLICATION_KIND, str(namespace), name)
    if (body.get("spec") or {}).get(
        "deletionPolicy", DeletionPolicy.DELETE
    ) != DeletionPolicy.DELETE:
        logger.info("deletionPolicy Orphan: leaving the inventory in place")
        return None
    owned = inventory.from_status(body.get("status") or {})
    if not owned:
        return None
    loop = asyncio.get_running_loop()
    account = str((body.get("spec") or {}).get("serviceAccountName") or "")
    apps = runtime.applications
    missing = await loop.run_in_executor(
        runtime.executor, apps.missing_account, str(namespace), account
    )
    if missing:
        # Deleting with any other identity would lend the operator's rights; retrying
        # would hold the Application (and a namespace being deleted) forever.
        message = (
            f"ServiceAccount {namespace}/{missing} not found: the {len(owned)} object(s) of"
            " the inventory are left in place, as with deletionPolicy Orphan"
        )
        logger.warning("%s", message)
        kopf.event(event_body, type="Warning", reason="ServiceAccountNotFound", message=message)
        return None
    try:  # the destination's manager; one that cannot be had leaves the objects in place
        destination = parse_destination(dict(body.get("spec") or {}))
        manager = await runtime.call(lambda: apps.manager_for(str(namespace), account, destination))
    except GitOpsError as exc:
        message = f"{exc.message}: the {len(owned)} object(s) of the inventory are left in place"
        logger.warning("%s", message)
        kopf.event(event_body, type="Warning", reason=exc.reason, message=message)
        return None
    current = await fresh(runtime, ref) or dict(body)

    def write(status: dict[str, Any]) -> None:
        runtime.kube.patch_status(API_VERSION, ref, status)
        current["status"] = {**(current.get("status") or {}), **status}

    done, outcome = await runtime.call(
        lambda: pre_delete(apps, current, write_status=write, now=now(), logger=logger)
    )
    if outcome.status or outcome.conditions or outcome.events:
        await write_outcome(runtime, current, ref, outcome, logger)
        metrics.forget_application(str(namespace), name)
        post_events(event_body, outcome.events, runtime.notifier)
    if not done:  # the finalizer stays; called again after the delay
        logger.info("waiting for PreDelete hooks")
        return outcome.requeue_after
    pruned = await runtime.call(lambda: manager.delete_all(owned))
    logger.info("deleted %d object(s) of the inventory", len(pruned.changes.entries))
    if pruned.survivors:
        logger.warning(
            "%d object(s) could not be deleted: %s",
            len(pruned.survivors),
            "; ".join(pruned.messages()[:3]),
        )
        return 10.0
    return None


def _without_kopf_finalizers(registry: kopf.OperatorRegistry) -> None:
    """kopf puts its finalizer on every resource a daemon runs for (to stop the daemon
    before the resource goes), from every replica: a write to resources another replica
    owns. The daemons end by themselves once their resource is gone (``run_daemon``), and
    the deletion's cleanup holds the operator's own finalizer (``finalizing``), which
    only the owner writes."""
    spawning = registry._spawning
    spawning._handlers = [
        dataclasses.replace(handler, requires_finalizer=False) for handler in spawning._handlers
    ]


_without_kopf_finalizers(kopf.get_default_registry())
