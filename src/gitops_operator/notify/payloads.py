"""The bodies each provider type receives; pure: data in, bytes or a commit state out.

generic: the Event as JSON, in the shape Flux's generic provider sends
(``involvedObject``, ``severity``, ``timestamp``, ``message``, ``reason``,
``metadata``); generic-hmac signs that body (``X-Signature: sha256=<hex>``); slack: a
Slack incoming-webhook message; msteams: a Microsoft Teams message (a MessageCard for
an Office 365 connector URL, an Adaptive Card message for a Workflows URL); github,
gitlab, gitea: a commit state for the revision, not a body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Literal
from urllib.parse import urlsplit

from ..api import API_VERSION, sha_of
from .model import Alert, NotifyEvent, Provider, ProviderType, Severity

CommitState = Literal["pending", "success", "failure"]
REPORTING_CONTROLLER = "gitops-operator"
PENDING_REASONS = frozenset({"Progressing", "WaveApplied"})
SUCCESS_REASONS = frozenset({"ReconciliationSucceeded", "HealthRecovered"})
MAX_DESCRIPTION = 140
"""GitHub refuses a commit status description longer than this."""


def metadata(event: NotifyEvent, alert: Alert) -> dict[str, str]:
    """The Alert's ``eventMetadata``, its ``summary`` and the Event's revision; what the
    operator sets wins over what the Alert adds (as in Flux)."""
    data = dict(alert.metadata)
    if alert.summary:
        data["summary"] = alert.summary
    if event.revision:
        data["revision"] = event.revision
    return data


def generic(event: NotifyEvent, alert: Alert) -> dict[str, Any]:
    return {
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": event.kind,
            "namespace": event.namespace,
            "name": event.name,
            "uid": event.uid,
        },
        "severity": event.severity.value,
        "timestamp": event.timestamp,
        "message": event.message,
        "reason": event.reason,
        "metadata": metadata(event, alert),
        "reportingController": REPORTING_CONTROLLER,
    }


def signature(body: bytes, key: bytes) -> str:
    """Flux's generic-hmac ``X-Signature`` header value: ``sha256=<hex HMAC of body>``."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _title(event: NotifyEvent) -> str:
    return f"{event.kind.lower()}/{event.name}.{event.namespace}"


def slack(event: NotifyEvent, alert: Alert, provider: Provider) -> dict[str, Any]:
    fields = [{"title": k, "value": v, "short": False} for k, v in metadata(event, alert).items()]
    message: dict[str, Any] = {
        "text": f"{_title(event)}: {event.reason}",
        "attachments": [
            {
                "color": "danger" if event.severity is Severity.ERROR else "good",
                "author_name": _title(event),
                "title": event.reason,
                "text": event.message,
                "mrkdwn_in": ["text"],
                "fields": fields,
            }
        ],
    }
    if provider.channel:
        message["channel"] = provider.channel
    if provider.username:
        message["username"] = provider.username
    return message


def msteams(event: NotifyEvent, alert: Alert, address: str) -> dict[str, Any]:
    facts = [{"name": k, "value": v} for k, v in metadata(event, alert).items()]
    if _office_connector(address):
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "themeColor": "FF0000" if event.severity is Severity.ERROR else "0076D7",
            "summary": f"{_title(event)}: {event.reason}",
            "sections": [
                {
                    "activityTitle": _title(event),
                    "activitySubtitle": event.message,
                    "facts": facts,
                    "markdown": False,
                }
            ],
        }
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": _title(event), "weight": "bolder", "size": "medium"},
            {"type": "TextBlock", "text": event.message, "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": f["name"], "value": f["value"]} for f in facts],
            },
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def _office_connector(address: str) -> bool:
    """An Office 365 connector (the legacy incoming webhook) takes MessageCards; a
    Workflows (Power Automate) URL takes Adaptive Card messages."""
    host = (urlsplit(address).hostname or "").lower()
    return host.endswith(".webhook.office.com") or host == "outlook.office.com"


def body_of(event: NotifyEvent, alert: Alert, provider: Provider, address: str) -> bytes:
    """The JSON body a webhook provider posts."""
    if provider.type is ProviderType.SLACK:
        payload = slack(event, alert, provider)
    elif provider.type is ProviderType.MSTEAMS:
        payload = msteams(event, alert, address)
    else:
        payload = generic(event, alert)
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def commit_state(event: NotifyEvent) -> CommitState | None:
    """The commit status an Application's Event sets on its revision, or None when it
    sets none: pending when a revision starts syncing, success when it turned healthy,
    failure when it failed or was rolled back."""
    if not event.commit_status or event.kind != "Application" or not commit_sha(event):
        return None
    if event.severity is Severity.ERROR:
        return "failure"
    if event.reason in PENDING_REASONS:
        return "pending"
    if event.reason in SUCCESS_REASONS:
        return "success"
    return None


def commit_sha(event: NotifyEvent) -> str:
    sha = sha_of(event.revision)
    return sha if len(sha) == 40 and all(c in "0123456789abcdef" for c in sha) else ""


def status_context(event: NotifyEvent) -> str:
    return f"gitops-operator/{event.namespace}/{event.name}"


def description(event: NotifyEvent) -> str:
    text = f"{event.reason}: {event.message}"
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."
