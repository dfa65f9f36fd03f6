"""Parse verified push deliveries: a push only ever names repositories to fetch; what a
repository contains is decided by the fetch, never by the payload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .common import (
    Provider,
    bad_request,
    delivery_id,
    event_name,
    load_json,
    obj,
    optional_text,
    text,
    urls,
)


@dataclass(frozen=True, slots=True)
class PushEvent:
    """A verified push: the repository (every URL the payload names, normalised) and ref."""

    provider: Provider
    urls: frozenset[str]
    ref: str
    sha: str  # the commit after the push, as the payload claims it: a hint, never a fact
    delivery: str = ""  # the provider's ID of this delivery ("" when it sends none)


def _commit(sha: str) -> str:
    # A deleted ref is reported as the all-zero object name: there is no commit after it.
    return "" if sha.strip("0") == "" else sha


# provider -> (the headers naming the event, the events that are pushes)
_EVENTS = {
    Provider.GITHUB: (("x-github-event",), ("push",)),
    Provider.GITLAB: (("x-gitlab-event",), ("Push Hook", "Tag Push Hook", "System Hook")),
    Provider.GITEA: (("x-gitea-event", "x-forgejo-event", "x-gogs-event"), ("push",)),
    Provider.BITBUCKET: (("x-event-key",), ("repo:push",)),
}
_GITLAB_PUSH_KINDS = ("push", "tag_push")  # a tuple: object_kind may be unhashable JSON
_BITBUCKET_REF_PREFIX = {
    "branch": "refs/heads/",
    "tag": "refs/tags/",
    "annotated_tag": "refs/tags/",
}


def _parse_github_or_gitea(provider: Provider, payload: dict[str, Any]) -> PushEvent | None:
    keys = ("clone_url", "ssh_url", "html_url", "git_url")
    found = urls((obj(payload, "repository"), keys))
    sha = _commit(optional_text(payload, "after"))
    return PushEvent(provider, found, text(payload, "ref"), sha)


def _parse_gitlab(provider: Provider, payload: dict[str, Any]) -> PushEvent | None:
    if payload.get("object_kind", "push") not in _GITLAB_PUSH_KINDS:
        return None  # a system hook about something other than a push
    keys = ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url")
    sources: list[tuple[Mapping[str, Any], tuple[str, ...]]] = [(obj(payload, "project"), keys)]
    if isinstance(payload.get("repository"), dict):
        sources.append((payload["repository"], ("git_http_url", "git_ssh_url", "homepage")))
    sha = optional_text(payload, "checkout_sha") or optional_text(payload, "after")
    return PushEvent(provider, urls(*sources), text(payload, "ref"), _commit(sha))


def _parse_bitbucket(provider: Provider, payload: dict[str, Any]) -> PushEvent | None:
    found = urls((obj(obj(obj(payload, "repository"), "links"), "html"), ("href",)))
    changes = obj(payload, "push").get("changes")
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise bad_request("push.changes is not a list of objects")
    # The newest change is the last one that created or moved a ref; a push that only
    # deleted refs still names the ref (from "old") so its repository is fetched.
    moved = [c["new"] for c in changes if c.get("new") is not None]
    deleted = [c["old"] for c in changes if c.get("old") is not None]
    if not moved and not deleted:
        return None  # a push that changed no ref
    state = moved[-1] if moved else deleted[-1]
    if not isinstance(state, dict):
        raise bad_request("push change is not an object")
    prefix = _BITBUCKET_REF_PREFIX.get(text(state, "type"))
    if prefix is None:
        raise bad_request("push change is neither a branch nor a tag")
    target = state.get("target")
    sha = optional_text(target, "hash") if moved and isinstance(target, dict) else ""
    return PushEvent(provider, found, prefix + text(state, "name"), sha)


_PARSERS = {
    Provider.GITHUB: _parse_github_or_gitea,
    Provider.GITLAB: _parse_gitlab,
    Provider.GITEA: _parse_github_or_gitea,
    Provider.BITBUCKET: _parse_bitbucket,
}


def parse_push(provider: Provider, headers: Mapping[str, str], body: bytes) -> PushEvent | None:
    """The push a verified delivery describes; ``None`` for other events (ping, ...).

    Raises only ``WebhookError(400)``, whatever the body holds.
    """
    names, pushes = _EVENTS[provider]
    if event_name(headers, names) not in pushes:
        return None
    push = _PARSERS[provider](provider, load_json(body))
    return None if push is None else replace(push, delivery=delivery_id(provider, headers))
