"""Every Prometheus metric of the operator, defined once.

Labels never carry secrets: repository URLs are redacted before they become labels.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILE_DURATION = Histogram(
    "gitops_reconcile_duration_seconds",
    "Duration of one reconcile, by resource kind and result.",
    ["kind", "result"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
RECONCILE_TOTAL = Counter(
    "gitops_reconcile_total",
    "Reconciles finished, by resource kind and result (success, error, stalled).",
    ["kind", "result"],
)
DRIFTED_OBJECTS = Gauge(
    "gitops_drifted_objects",
    "Objects of an Application whose live state differs from the applied revision.",
    ["namespace", "name"],
)
ROLLBACKS = Counter(
    "gitops_rollbacks_total",
    "Automatic rollbacks to the last good revision, by the failure that caused them.",
    ["namespace", "name", "reason"],
)


WEBHOOK_REQUESTS = Counter(
    "gitops_webhook_requests_total",
    "Webhook deliveries by provider and result (accepted, unauthorized, bad_request,"
    " too_large, ignored, not_found, error).",
    ["provider", "result"],
)

_rollback_reasons: dict[tuple[str, str], set[str]] = {}


def count_rollback(namespace: str, name: str, reason: str) -> None:
    ROLLBACKS.labels(namespace, name, reason).inc()
    _rollback_reasons.setdefault((namespace, name), set()).add(reason)


def count_webhook(provider: str, result: str) -> None:
    WEBHOOK_REQUESTS.labels(provider, result).inc()


def observe_reconcile(kind: str, result: str, seconds: float) -> None:
    RECONCILE_DURATION.labels(kind, result).observe(seconds)
    RECONCILE_TOTAL.labels(kind, result).inc()


def forget_application(namespace: str, name: str) -> None:
    """Remove the series of a deleted Application."""
    with contextlib.suppress(KeyError):
        DRIFTED_OBJECTS.remove(namespace, name)
    for reason in _rollback_reasons.pop((namespace, name), set()):
        ROLLBACKS.remove(namespace, name, reason)


def serve(port: int) -> None:
    """Expose /metrics on ``port`` in a background thread."""
    start_http_server(port)
