"""kopf wiring of notifications: where the controller posts a reconcile's Events (each
one also published to the notifier), and the watches of Providers and Alerts, which keep
them in the notifier's memory (an Event is matched without an API call) and report spec
errors in their status and an Event."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from .api import GROUP, VERSION
from .errors import GitOpsError
from .notify import ALERT_KIND, ALERT_PLURAL, PROVIDER_KIND, PROVIDER_PLURAL, Notifier
from .reconcilers.outcome import Event
from .runtime import Key, Runtime

Logger = logging.Logger | logging.LoggerAdapter[Any]


def post_events(body: kopf.Body, events: list[Event], notifier: Notifier | None = None) -> None:
    """The outcome's Events, on the resource (after its status was written), each also
    published to the notifier, which queues the notifications of the Alerts it matches
    (no I/O here: deliveries run on their own threads)."""
    for event in events:
        kopf.event(
            body,
            type="Warning" if event.warning else "Normal",
            reason=event.reason,
            message=event.message,
        )
        if notifier is not None:
            notifier.publish(
                body,
                reason=event.reason,
                message=event.message,
                warning=event.warning,
                revision=event.revision,
            )


@kopf.on.cleanup()
async def stop_deliveries(memo: kopf.Memo, **_: Any) -> None:
    """Queued deliveries are dropped and retries end (the process is stopping)."""
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None and runtime.notifier is not None:
        runtime.notifier.stop()


@kopf.on.event(GROUP, VERSION, PROVIDER_PLURAL)
async def provider_changed(
    body: kopf.Body, type: str, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    """Keep the Provider in memory (deliveries read it, never the API); a spec error is
    Ready=False with its reason and an Event."""
    notifier: Notifier = memo.runtime.notifier
    key = (str(body.metadata.namespace), str(body.metadata.name))
    status, error = notifier.provider_changed(key, None if type == "DELETED" else body)
    await _write_notify_status(memo.runtime, body, PROVIDER_KIND, key, status, error, logger)


@kopf.on.event(GROUP, VERSION, ALERT_PLURAL)
async def alert_changed(
    body: kopf.Body, type: str, memo: kopf.Memo, logger: Logger, **_: Any
) -> None:
    """Keep the Alert in memory (matched against every Event the operator posts); a spec
    error is Ready=False with its reason and an Event."""
    notifier: Notifier = memo.runtime.notifier
    key = (str(body.metadata.namespace), str(body.metadata.name))
    status, error = notifier.alert_changed(key, None if type == "DELETED" else body)
    await _write_notify_status(memo.runtime, body, ALERT_KIND, key, status, error, logger)


async def _write_notify_status(
    runtime: Runtime,
    body: kopf.Body,
    kind: str,
    key: Key,
    status: dict[str, Any] | None,
    error: GitOpsError | None,
    logger: Logger,
) -> None:
    if status is None or runtime.notifier is None:
        return
    notifier = runtime.notifier
    try:
        await runtime.call(lambda: notifier.write_status(kind, key, status))
    except GitOpsError as exc:
        logger.warning("could not write status: %s", exc.message)
        return
    if error is not None:
        kopf.event(body, type="Warning", reason=error.reason, message=error.message)
