"""Provider and Alert: their specs parsed into values, and the event they are matched with.

The shape is Flux's (notification.toolkit.fluxcd.io v1beta3), so a Flux user's resources
read the same. The CRD schemas validate at admission; ``parse_provider`` and
``parse_alert`` raise ``InvalidSpecError`` for what a schema cannot express (regexes,
cross-namespace sources when the operator forbids them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import re2

from ..api import APPLICATION_KIND, REPOSITORY_KIND, parse_duration
from ..errors import InvalidSpecError

PROVIDER_KIND = "Provider"
PROVIDER_PLURAL = "providers"
ALERT_KIND = "Alert"
ALERT_PLURAL = "alerts"
SOURCE_KINDS = frozenset({APPLICATION_KIND, REPOSITORY_KIND})
DEFAULT_TIMEOUT = 15.0
MAX_TIMEOUT = 60.0
"""``spec.timeout`` of a Provider is clamped to 1s..60s: one delivery attempt holds one
of the few delivery workers for at most this long."""
MAX_PATTERNS = 32
"""Regexes (and reasons) an Alert may list in each of its lists."""
MAX_PATTERN_LENGTH = 1024


class ProviderType(StrEnum):
    GENERIC = "generic"
    GENERIC_HMAC = "generic-hmac"
    SLACK = "slack"
    MSTEAMS = "msteams"
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"


COMMIT_STATUS_TYPES = frozenset({ProviderType.GITHUB, ProviderType.GITLAB, ProviderType.GITEA})


class Severity(StrEnum):
    INFO = "info"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Provider:
    namespace: str
    name: str
    type: ProviderType
    address: str = ""
    """From the spec; the Secret's ``address`` key, when present, wins at delivery."""
    channel: str = ""
    username: str = ""
    secret_name: str = ""
    suspend: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class EventSource:
    kind: str
    namespace: str
    name: str
    """An object's name, or ``*`` for every object of the kind in the namespace."""
    match_labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    namespace: str
    name: str
    provider: str
    sources: tuple[EventSource, ...]
    severity: Severity = Severity.INFO
    inclusion: tuple[Any, ...] = ()
    """Compiled RE2 patterns (Go's regexp syntax, as Flux uses): linear time, whatever a
    tenant writes."""
    exclusion: tuple[Any, ...] = ()
    reasons: frozenset[str] = frozenset()
    summary: str = ""
    metadata: tuple[tuple[str, str], ...] = ()
    suspend: bool = False

    @property
    def provider_key(self) -> tuple[str, str]:
        return (self.namespace, self.provider)


@dataclass(frozen=True, slots=True)
class NotifyEvent:
    """One Event the operator posted, as the notification machinery sees it."""

    kind: str
    namespace: str
    name: str
    reason: str
    message: str
    severity: Severity
    timestamp: str
    revision: str = ""
    """The revision (``main@sha1:<sha>``) the Event is about; empty when it concerns none."""
    uid: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    commit_status: bool = False
    """Whether the Event reports a revision's sync (Progressing, succeeded, failed) and so
    drives commit statuses; events that merely mention a revision do not."""
    published: float = 0.0
    """``time.monotonic()`` when it was published: where delivery latency starts."""


def parse_provider(body: Mapping[str, Any]) -> Provider:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    raw_type = str(spec.get("type") or "")
    try:
        kind = ProviderType(raw_type)
    except ValueError:
        allowed = ", ".join(t.value for t in ProviderType)
        raise InvalidSpecError(
            f"spec.type {raw_type!r} is not one of {allowed}", reason="InvalidProvider"
        ) from None
    address = str(spec.get("address") or "")
    secret = str((spec.get("secretRef") or {}).get("name") or "")
    if not address and not secret:
        raise InvalidSpecError(
            "spec.address or a spec.secretRef with an address key is required",
            reason="InvalidProvider",
        )
    if address and not address.startswith(("http://", "https://")):
        raise InvalidSpecError(
            "spec.address must be an http or https URL", reason="InvalidProvider"
        )
    timeout = DEFAULT_TIMEOUT
    if spec.get("timeout"):
        timeout = parse_duration(str(spec["timeout"]), field_name="spec.timeout")
    return Provider(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        type=kind,
        address=address,
        channel=str(spec.get("channel") or ""),
        username=str(spec.get("username") or ""),
        secret_name=secret,
        suspend=bool(spec.get("suspend")),
        timeout=min(max(timeout, 1.0), MAX_TIMEOUT),
    )


def parse_alert(body: Mapping[str, Any], *, no_cross_namespace_refs: bool) -> Alert:
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}
    namespace = str(meta.get("namespace") or "")
    provider = str((spec.get("providerRef") or {}).get("name") or "")
    if not provider:
        raise InvalidSpecError("spec.providerRef.name is required", reason="InvalidAlert")
    sources = tuple(
        _source(s, namespace, no_cross_namespace_refs) for s in spec.get("eventSources") or ()
    )
    if not sources:
        raise InvalidSpecError("spec.eventSources lists no source", reason="InvalidAlert")
    try:
        severity = Severity(str(spec.get("eventSeverity") or "info"))
    except ValueError:
        raise InvalidSpecError(
            "spec.eventSeverity must be info or error", reason="InvalidAlert"
        ) from None
    reasons = _bounded(spec.get("eventReasons"), "spec.eventReasons")
    return Alert(
        namespace=namespace,
        name=str(meta.get("name") or ""),
        provider=provider,
        sources=sources,
        severity=severity,
        inclusion=tuple(
            _compile(p, "spec.inclusionList")
            for p in _bounded(spec.get("inclusionList"), "spec.inclusionList")
        ),
        exclusion=tuple(
            _compile(p, "spec.exclusionList")
            for p in _bounded(spec.get("exclusionList"), "spec.exclusionList")
        ),
        reasons=frozenset(reasons),
        summary=str(spec.get("summary") or ""),
        metadata=tuple(
            sorted((str(k), str(v)) for k, v in (spec.get("eventMetadata") or {}).items())
        ),
        suspend=bool(spec.get("suspend")),
    )


def _source(raw: Mapping[str, Any], namespace: str, no_cross: bool) -> EventSource:
    kind = str(raw.get("kind") or "")
    if kind not in SOURCE_KINDS:
        raise InvalidSpecError(
            f"spec.eventSources kind {kind!r}: only {', '.join(sorted(SOURCE_KINDS))}",
            reason="InvalidAlert",
        )
    source_namespace = str(raw.get("namespace") or namespace)
    if no_cross and source_namespace != namespace:
        raise InvalidSpecError(
            f"spec.eventSources namespace {source_namespace!r}: this operator forbids"
            " event sources in other namespaces",
            reason="CrossNamespaceRef",
        )
    labels = raw.get("matchLabels") or {}
    return EventSource(
        kind,
        source_namespace,
        str(raw.get("name") or "*"),
        tuple(sorted((str(k), str(v)) for k, v in labels.items())),
    )


def _bounded(raw: Any, name: str) -> list[str]:
    items = [str(p) for p in raw or ()]
    if len(items) > MAX_PATTERNS or any(len(p) > MAX_PATTERN_LENGTH for p in items):
        raise InvalidSpecError(
            f"{name}: at most {MAX_PATTERNS} entries of {MAX_PATTERN_LENGTH} characters",
            reason="InvalidAlert",
        )
    return items


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


def _compile(pattern: str, name: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise InvalidSpecError(
            f"{name}: {pattern!r} is not a valid regular expression: {message}",
            reason="InvalidAlert",
        ) from None
