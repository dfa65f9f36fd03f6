"""Every Prometheus metric of the operator, defined once.

Labels never carry secrets: repository URLs are redacted before they become labels.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

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


def observe_reconcile(kind: str, result: str, seconds: float) -> None:
    RECONCILE_DURATION.labels(kind, result).observe(seconds)
    RECONCILE_TOTAL.labels(kind, result).inc()


def serve(port: int) -> None:
    """Expose /metrics on ``port`` in a background thread."""
    start_http_server(port)
