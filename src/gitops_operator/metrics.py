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
DRIFT_WATCHES = Gauge(
    "gitops_drift_watches",
    "Metadata-only watches running for watch-driven drift, one per kind in use.",
)
DRIFT_WAKEUPS = Counter(
    "gitops_drift_wakeups_total",
    "Drift checks asked by a watch event (another manager's write or a deletion of an"
    " object the Application manages), after coalescing, by Application.",
    ["namespace", "name"],
)
DRIFT_WATCH_FAILURES = Counter(
    "gitops_drift_watch_failures_total",
    "Refused watches of managed kinds (reason forbidden, not_found, refused): that kind's"
    " drift is found by driftInterval alone until the watch works.",
    ["kind", "reason"],
)
DRIFT_CHECKS = Counter(
    "gitops_drift_checks_total",
    "Drift checks run, by trigger: watch (an event woke it) or interval (driftInterval).",
    ["trigger"],
)
REVISION_WAKEUPS = Counter(
    "gitops_revision_wakeups_total",
    "Applications of a repository at its new revisions, by result: woken (the commit may"
    " change what they render, or that is not known) or unaffected (it changes none of"
    " their inputs; they take it at their next scheduled pass, without a render).",
    ["result"],
)

SHARD_MEMBERS = Gauge(
    "gitops_shard_members",
    "Live members of this replica's shard group, as its latest view has them (hash mode).",
)
SHARD_OWNED = Gauge(
    "gitops_shard_owned",
    "Resources this replica owns and reconciles, by kind (0 while it does not act).",
    ["kind"],
)
APPLICATION_INFO = Gauge(
    "gitops_application_info",
    "One series per Application (value 1) with its source, revision, sync and health.",
    ["namespace", "name", "source", "revision", "sync_status", "health_status"],
)
MANAGED_OBJECTS = Counter(
    "gitops_managed_objects_total",
    "Objects handled by syncs, by ChangeSet action (created, configured, unchanged,"
    " deleted, skipped).",
    ["namespace", "name", "action"],
)
GIT_REQUEST_DURATION = Histogram(
    "gitops_git_request_duration_seconds",
    "Duration of git ls-remote and fetch requests, by repository (credentials redacted).",
    ["repository", "request"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GIT_REQUEST_FAILURES = Counter(
    "gitops_git_request_failures_total",
    "Failed git ls-remote and fetch requests, by repository (credentials redacted).",
    ["repository", "request"],
)
WEBHOOK_REQUESTS = Counter(
    "gitops_webhook_requests_total",
    "Webhook deliveries by provider and result: accepted (a push that triggered a"
    " GitRepository), unmatched (a verified push no GitRepository watches), ignored (not a"
    " push), duplicate (a delivery ID already handled: a replay or a retry, acted on once),"
    " unauthorized, bad_request, too_large, not_found, error.",
    ["provider", "result"],
)
NOTIFICATION_DELIVERIES = Counter(
    "gitops_notification_deliveries_total",
    "Notification deliveries by Provider (namespace/name) and result: succeeded, failed,"
    " dropped_rate_limited, dropped_queue_full.",
    ["provider", "result"],
)
NOTIFICATION_LATENCY = Histogram(
    "gitops_notification_delivery_latency_seconds",
    "Seconds from an Event being posted to its notification being delivered, by Provider.",
    ["provider"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

_rollback_reasons: dict[tuple[str, str], set[str]] = {}


def count_rollback(namespace: str, name: str, reason: str) -> None:
    ROLLBACKS.labels(namespace, name, reason).inc()
    _rollback_reasons.setdefault((namespace, name), set()).add(reason)


PULL_REQUEST_PLANS = Counter(
    "gitops_pull_request_plans_total",
    "Pull-request plans (GitRepository spec.pullRequests), by result: planned (every"
    " Application rendered and passed the dry run), failed (one did not), error (the head"
    " or the Provider could not be used), skipped (pullRequests was turned off meanwhile),"
    " dropped (too many plans queued).",
    ["result"],
)


def count_pull_request_plan(result: str) -> None:
    PULL_REQUEST_PLANS.labels(result).inc()


def count_revision_wakeups(woken: int, unaffected: int) -> None:
    REVISION_WAKEUPS.labels("woken").inc(woken)
    REVISION_WAKEUPS.labels("unaffected").inc(unaffected)


def count_webhook(provider: str, result: str) -> None:
    WEBHOOK_REQUESTS.labels(provider, result).inc()


def count_notification(provider: str, result: str, latency: float | None = None) -> None:
    NOTIFICATION_DELIVERIES.labels(provider, result).inc()
    if latency is not None:
        NOTIFICATION_LATENCY.labels(provider).observe(latency)


def forget_provider(provider: str) -> None:
    """Remove the series of a deleted Provider."""
    for result in ("succeeded", "failed", "dropped_rate_limited", "dropped_queue_full"):
        with contextlib.suppress(KeyError):
            NOTIFICATION_DELIVERIES.remove(provider, result)
    with contextlib.suppress(KeyError):
        NOTIFICATION_LATENCY.remove(provider)


def set_shard(members: int, owned: dict[str, int]) -> None:
    SHARD_MEMBERS.set(members)
    for kind, count in owned.items():
        SHARD_OWNED.labels(kind).set(count)


def observe_reconcile(kind: str, result: str, seconds: float) -> None:
    RECONCILE_DURATION.labels(kind, result).observe(seconds)
    RECONCILE_TOTAL.labels(kind, result).inc()


_app_info: dict[tuple[str, str], tuple[str, ...]] = {}
_app_actions: dict[tuple[str, str], set[str]] = {}


def set_application_info(
    namespace: str, name: str, source: str, revision: str, sync: str, health: str
) -> None:
    """Keep exactly one info series per Application (the previous labels are removed).

    The revision label is the branch or tag name only (``commit`` for a pinned commit):
    /metrics is unauthenticated, and a SHA is what names a tree."""
    labels = (namespace, name, source, revision_label(revision), sync, health)
    previous = _app_info.get((namespace, name))
    if previous == labels:
        return
    if previous is not None:
        with contextlib.suppress(KeyError):
            APPLICATION_INFO.remove(*previous)
    APPLICATION_INFO.labels(*labels).set(1)
    _app_info[(namespace, name)] = labels


def revision_label(revision: str) -> str:
    """``main@sha1:<sha>`` -> ``main``; ``sha1:<sha>`` -> ``commit``; never a SHA."""
    if not revision:
        return ""
    return revision.rpartition("@")[0] or "commit"


def count_changes(namespace: str, name: str, counts: dict[str, int]) -> None:
    for action, n in counts.items():
        if n:
            MANAGED_OBJECTS.labels(namespace, name, action).inc(n)
            _app_actions.setdefault((namespace, name), set()).add(action)


def observe_git(repository: str, request: str, seconds: float, *, failed: bool) -> None:
    GIT_REQUEST_DURATION.labels(repository, request).observe(seconds)
    if failed:
        GIT_REQUEST_FAILURES.labels(repository, request).inc()


def forget_application(namespace: str, name: str) -> None:
    """Remove the series of a deleted Application."""
    with contextlib.suppress(KeyError):
        DRIFTED_OBJECTS.remove(namespace, name)
    with contextlib.suppress(KeyError):
        DRIFT_WAKEUPS.remove(namespace, name)
    previous = _app_info.pop((namespace, name), None)
    if previous is not None:
        with contextlib.suppress(KeyError):
            APPLICATION_INFO.remove(*previous)
    for action in _app_actions.pop((namespace, name), set()):
        with contextlib.suppress(KeyError):
            MANAGED_OBJECTS.remove(namespace, name, action)
    for reason in _rollback_reasons.pop((namespace, name), set()):
        ROLLBACKS.remove(namespace, name, reason)


def serve(port: int) -> None:
    """Expose /metrics on ``port`` in a background thread."""
    start_http_server(port)
