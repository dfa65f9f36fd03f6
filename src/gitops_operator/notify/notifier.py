"""The runtime's notification machinery: the dispatcher, the Alerts and Providers it
knows from the watches, the Provider's Secret read and status written, the metrics.

The controller calls ``publish`` for each Event it posts (on the event loop: matching
and queueing only), and ``provider_changed`` / ``alert_changed`` from its watches (they
return the status to write, if any, so the write happens off the event loop).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .. import metrics
from ..api import API_VERSION, GROUP, status_fields
from ..errors import GitOpsError
from ..kube import KubeClient
from ..objects import ObjectRef
from ..source.hosts import HostPolicy
from .commit_status import set_commit_status
from .delivery import Delivery, Sender, decoded
from .dispatcher import Dispatcher, Key, Limits
from .matching import labels_of
from .model import (
    ALERT_KIND,
    PROVIDER_KIND,
    NotifyEvent,
    Provider,
    Severity,
    parse_alert,
    parse_provider,
)
from .status import Result, delivery_status, validity_status

log = logging.getLogger("gitops_operator.notify")
TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"


def _now() -> str:
    return datetime.now(UTC).strftime(TIMESTAMP)


def label(provider: Provider) -> str:
    return f"{provider.namespace}/{provider.name}"


class Notifier:
    def __init__(
        self,
        kube: KubeClient,
        *,
        no_cross_namespace_refs: bool,
        allowed_hosts: tuple[str, ...] = (),
        limits: Limits | None = None,
    ) -> None:
        self.kube = kube
        self.no_cross_namespace_refs = no_cross_namespace_refs
        sender = Sender(self._secret, set_commit_status, HostPolicy.parse(allowed_hosts))
        self.dispatcher = Dispatcher(sender, self._report, self._drop, limits or Limits())
        self._conditions: dict[Key, list[dict[str, Any]]] = {}
        self._generations: dict[Key, int] = {}

    # -- Events in --------------------------------------------------------------------------

    def publish(
        self,
        body: Mapping[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool,
        revision: str = "",
    ) -> int:
        """Queue the notifications of one Event posted on ``body``; ``revision`` is set
        when the Event reports that revision's sync (it drives commit statuses)."""
        meta = body.get("metadata") or {}
        event = NotifyEvent(
            kind=str(body.get("kind") or ""),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            reason=reason,
            message=message,
            severity=Severity.ERROR if warning else Severity.INFO,
            timestamp=_now(),
            revision=revision or revision_of(body),
            uid=str(meta.get("uid") or ""),
            labels=labels_of(body),
            commit_status=bool(revision),
            published=time.monotonic(),
        )
        return self.dispatcher.publish(event)

    # -- the watches --------------------------------------------------------------------------

    def provider_changed(
        self, key: Key, body: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any] | None, GitOpsError | None]:
        """Track a Provider (``body`` None: deleted); the status to write, if it changes
        anything, and the spec error to report."""
        if body is None:
            gone = self.dispatcher.providers.get(key)
            if gone is not None:
                metrics.forget_provider(label(gone))
            self.dispatcher.set_provider(key, None)
            self._conditions.pop(key, None)
            return None, None
        self._track(key, body)
        try:
            provider: Provider | None = parse_provider(body)
            error = None
        except GitOpsError as exc:
            provider, error = None, exc
        self.dispatcher.set_provider(key, provider)
        return self._validity(key, body, error, "the provider is valid"), error

    def alert_changed(
        self, key: Key, body: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any] | None, GitOpsError | None]:
        """Track an Alert (``body`` None: deleted); as ``provider_changed``."""
        if body is None:
            self.dispatcher.set_alert(key, None)
            return None, None
        try:
            alert = parse_alert(body, no_cross_namespace_refs=self.no_cross_namespace_refs)
            error = None
        except GitOpsError as exc:
            alert, error = None, exc
        self.dispatcher.set_alert(key, alert)
        return self._validity(key, body, error, "the alert is valid"), error

    def _track(self, key: Key, body: Mapping[str, Any]) -> None:
        status = body.get("status") or {}
        self._conditions[key] = list(status.get("conditions") or [])
        self._generations[key] = int((body.get("metadata") or {}).get("generation") or 0)

    @staticmethod
    def _validity(
        key: Key, body: Mapping[str, Any], error: GitOpsError | None, message: str
    ) -> dict[str, Any] | None:
        status = body.get("status") or {}
        generation = int((body.get("metadata") or {}).get("generation") or 0)
        wanted = validity_status(
            list(status.get("conditions") or []),
            error=(error.reason, error.message) if error else None,
            generation=generation,
            now=_now(),
            valid_message=message,
            observed=status.get("observedGeneration"),
        )
        changed = any(_essential(status.get(k)) != _essential(v) for k, v in wanted.items())
        return wanted if changed else None

    def write_status(self, kind: str, key: Key, status: dict[str, Any]) -> None:
        """Merge-patch a Provider's or Alert's status (blocking)."""
        self.kube.patch_status(API_VERSION, ObjectRef(GROUP, kind, *key), status)

    # -- deliveries out (on the delivery threads) -------------------------------------------

    def _secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return decoded(self.kube.get("v1", ObjectRef("", "Secret", namespace, name)))

    def _report(self, delivery: Delivery, result: Result, latency: float | None) -> None:
        provider = delivery.provider
        metrics.count_notification(label(provider), "succeeded" if result.ok else "failed", latency)
        if not result.ok:
            log.warning(
                "notification to provider %s failed after %d attempt(s): %s: %s",
                label(provider),
                result.attempts,
                result.reason,
                result.message,
            )
        key = provider.key
        status = delivery_status(
            self._conditions.get(key, []),
            result,
            generation=self._generations.get(key, 0),
            now=_now(),
        )
        self._conditions[key] = status["conditions"]
        try:
            self.write_status(PROVIDER_KIND, key, status)
        except GitOpsError as exc:
            log.info("could not write the status of provider %s: %s", label(provider), exc)

    def _drop(self, provider: Provider, why: str) -> None:
        metrics.count_notification(label(provider), f"dropped_{why}")

    def stop(self) -> None:
        self.dispatcher.stop()


def revision_of(body: Mapping[str, Any]) -> str:
    """The revision an object's status names: an Application's last attempted one, a
    GitRepository's artifact."""
    status = body.get("status") or {}
    artifact = status.get(status_fields.ARTIFACT) or {}
    return str(
        status.get(status_fields.LAST_ATTEMPTED_REVISION)
        or (artifact.get("revision") if isinstance(artifact, Mapping) else "")
        or ""
    )


def _essential(value: Any) -> Any:
    """A status value without the times that a rewrite would change."""
    if isinstance(value, list):
        return [
            {k: v for k, v in c.items() if k != "lastTransitionTime"} if isinstance(c, dict) else c
            for c in value
        ]
    return value


__all__ = ["ALERT_KIND", "PROVIDER_KIND", "Notifier"]
