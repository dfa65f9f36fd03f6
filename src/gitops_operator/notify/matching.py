"""Which Alerts an Event concerns, with Flux's rules; pure.

An Alert matches when it is not suspended, the Event's severity is at least the
Alert's (``info`` takes both, ``error`` only errors), one of its event sources names
the Event's object (kind, namespace, name or ``*``, and every ``matchLabels`` pair on
the object), its reason is in ``eventReasons`` when that is set, no ``exclusionList``
pattern matches the message, and, when ``inclusionList`` is set, one of its patterns
does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .model import Alert, EventSource, NotifyEvent, Severity


def source_matches(source: EventSource, event: NotifyEvent) -> bool:
    return (
        source.kind == event.kind
        and source.namespace == event.namespace
        and source.name in ("*", event.name)
        and all(event.labels.get(k) == v for k, v in source.match_labels)
    )


def alert_matches(alert: Alert, event: NotifyEvent) -> bool:
    if alert.suspend:
        return False
    if alert.severity is Severity.ERROR and event.severity is not Severity.ERROR:
        return False
    if not any(source_matches(s, event) for s in alert.sources):
        return False
    if alert.reasons and event.reason not in alert.reasons:
        return False
    if any(p.search(event.message) for p in alert.exclusion):
        return False
    return not alert.inclusion or any(p.search(event.message) for p in alert.inclusion)


def matching(alerts: Iterable[Alert], event: NotifyEvent) -> list[Alert]:
    """The Alerts ``event`` concerns, in a stable order."""
    return sorted(
        (a for a in alerts if alert_matches(a, event)), key=lambda a: (a.namespace, a.name)
    )


def labels_of(body: Mapping[str, object]) -> dict[str, str]:
    meta = body.get("metadata") or {}
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return (
        {str(k): str(v) for k, v in (labels or {}).items()} if isinstance(labels, Mapping) else {}
    )
