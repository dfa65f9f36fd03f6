"""Parse verified pull-request deliveries: GitHub ``pull_request``, Gitea (Forgejo, Gogs)
``pull_request`` and GitLab ``Merge Request Hook``.

Only a new or moved head asks for a plan: opened, synchronize(d) and reopened (GitLab:
open, update, reopen). Like a push, a pull request only names a repository and a number:
the head is fetched from the repository's own URL (``head_ref``), never from the fork or
commit the payload names; its head SHA is a hint, never a fact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import WebhookError
from .common import (
    Provider,
    bad_request,
    delivery_id,
    event_name,
    load_json,
    obj,
    optional_text,
    urls,
)

MAX_NUMBER = 2**31 - 1
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")

# provider -> (the headers naming the event, the events about pull requests, the actions
# that give the pull request a new head)
_EVENTS: dict[Provider, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    Provider.GITHUB: (
        ("x-github-event",),
        ("pull_request",),
        ("opened", "synchronize", "reopened"),
    ),
    Provider.GITEA: (
        ("x-gitea-event", "x-forgejo-event", "x-gogs-event"),
        ("pull_request", "pull_request_sync"),
        ("opened", "synchronize", "synchronized", "reopened"),
    ),
    Provider.GITLAB: (("x-gitlab-event",), ("Merge Request Hook",), ("open", "update", "reopen")),
}


@dataclass(frozen=True, slots=True)
class PullRequestEvent:
    """A verified pull request with a new head: its repository (every URL the payload
    names for the base repository, normalised), number and action."""

    provider: Provider
    urls: frozenset[str]
    number: int
    action: str
    sha: str  # the head commit as the payload claims it: a hint, never a fact
    delivery: str = ""

    @property
    def head_ref(self) -> str:
        """The ref the repository itself keeps the pull request's head under."""
        if self.provider is Provider.GITLAB:
            return f"refs/merge-requests/{self.number}/head"
        return f"refs/pull/{self.number}/head"


def is_pull_request(provider: Provider, headers: Mapping[str, str]) -> bool:
    """Does the delivery say it is about a pull request (whatever its action)?"""
    if provider not in _EVENTS:
        return False
    names, events, _ = _EVENTS[provider]
    try:
        return event_name(headers, names) in events
    except WebhookError:  # no event header: parse_push says so
        return False


def _number(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_NUMBER:
        raise bad_request(f"{where} is not a pull request number")
    return value


def _hint(sha: str) -> str:
    sha = sha.strip().lower()
    return sha if _SHA.match(sha) else ""


def _parse_github_or_gitea(provider: Provider, payload: dict[str, Any]) -> PullRequestEvent:
    keys = ("clone_url", "ssh_url", "html_url", "git_url")
    found = urls((obj(payload, "repository"), keys))
    pull = obj(payload, "pull_request")
    number = _number(payload.get("number", pull.get("number")), "number")
    head = pull.get("head")
    sha = optional_text(head, "sha") if isinstance(head, dict) else ""
    return PullRequestEvent(provider, found, number, optional_text(payload, "action"), _hint(sha))


def _parse_gitlab(provider: Provider, payload: dict[str, Any]) -> PullRequestEvent:
    keys = ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url")
    found = urls((obj(payload, "project"), keys))
    attributes = obj(payload, "object_attributes")
    number = _number(attributes.get("iid"), "object_attributes.iid")
    last = attributes.get("last_commit")
    sha = optional_text(last, "id") if isinstance(last, dict) else ""
    action = optional_text(attributes, "action")
    return PullRequestEvent(provider, found, number, action, _hint(sha))


_PARSERS = {
    Provider.GITHUB: _parse_github_or_gitea,
    Provider.GITEA: _parse_github_or_gitea,
    Provider.GITLAB: _parse_gitlab,
}


def parse_pull_request(
    provider: Provider, headers: Mapping[str, str], body: bytes
) -> PullRequestEvent | None:
    """The pull request a verified delivery gives a new head; ``None`` for other events
    and actions (closed, labeled, edited, ...). Raises only ``WebhookError(400)``."""
    if not is_pull_request(provider, headers):
        return None
    event = _PARSERS[provider](provider, load_json(body))
    if event.action not in _EVENTS[provider][2]:
        return None
    return replace(event, delivery=delivery_id(provider, headers))
