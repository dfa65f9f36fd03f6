"""Verify and parse Git-provider push webhooks, and serve them over HTTP.

A delivery is authenticated (HMAC-SHA256 or token, compared in constant time) before its
body is parsed, its size is capped before it is read, and it only ever names repositories
to fetch: what a repository contains is decided by the fetch, never by the payload.

Repository URLs are compared in one canonical form, ``host/path`` (see
``normalize_repo_url``), so a GitRepository's ``https://`` URL matches a push whose payload
names the ``git@host:org/repo.git`` form of the same repository.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from aiohttp import StreamReader, web

from .deliveries import DeliveryMemory, RefusalLog
from .errors import WebhookError, redact

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1_048_576


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"  # Forgejo and Gogs send the same payload
    BITBUCKET = "bitbucket"  # Bitbucket Cloud


@dataclass(frozen=True, slots=True)
class PushEvent:
    """A verified push: the repository (every URL the payload names, normalised) and ref."""

    provider: Provider
    urls: frozenset[str]
    ref: str
    sha: str  # the commit after the push, as the payload claims it: a hint, never a fact
    delivery: str = ""  # the provider's ID of this delivery ("" when it sends none)


def _unauthorized(message: str) -> WebhookError:
    return WebhookError(401, "unauthorized", message)


def _bad_request(message: str) -> WebhookError:
    return WebhookError(400, "bad_request", message)


# --- URL normalisation --------------------------------------------------------------------

# git's rule for scp-like syntax: no "/" before the first ":" ("git@host:org/repo.git").
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:\[\]]+):(?P<path>.*)$")
_SLASHES = re.compile(r"/{2,}")


def normalize_repo_url(url: str) -> str:
    """Canonical ``host/path`` form of a Git URL, for comparing URLs of the same repository.

    Scheme, user info (credentials), port, query and fragment are dropped; host and path
    are lower-cased (GitHub, GitLab, Gitea and Bitbucket treat repository paths
    case-insensitively); repeated, leading and trailing ``/``, surrounding spaces and
    trailing ``.git`` are removed. scp-like ``git@host:org/repo.git`` reads as
    ``ssh://host/org/repo``, and a URL without a scheme as ``host/path``, so the result
    reads back as itself. ``https://u:tok@Host/org/repo.git/``, ``ssh://git@host:22/org/repo``,
    ``git@host:org/repo`` and ``host/org/repo`` all give ``host/org/repo``. Never raises.
    """
    text = redact(url.strip()).lower()
    if "://" in text:
        parseable = text
    elif scp := _SCP_LIKE.match(text):
        parseable = f"ssh://{scp['host']}/{scp['path']}"
    else:  # "host/path", as this function writes it; "/path" keeps an empty host
        parseable = f"//{text}"
    try:
        parts = urlsplit(parseable)
        host = (parts.hostname or "").strip()
    except ValueError:  # e.g. an unbalanced "[": not a URL we can read, compare it verbatim
        return text
    path = _SLASHES.sub("/", parts.path)
    while (shorter := path.strip().strip("/").removesuffix(".git")) != path:
        path = shorter
    if ":" in host:  # IPv6 literal: keep it unambiguous
        host = f"[{host}]"
    return f"{host}/{path}"


# --- verification -------------------------------------------------------------------------


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _as_bytes(value: str) -> bytes:
    # compare_digest refuses non-ASCII str; "replace" never raises, even on lone surrogates.
    return value.encode("utf-8", "replace")


def verify(provider: Provider, headers: Mapping[str, str], body: bytes, secret: bytes) -> None:
    """Raise ``WebhookError(401)`` unless the delivery is signed with (or carries) ``secret``."""
    lowered = _lower_keys(headers)
    if not secret:  # an empty key would let anyone compute the signature
        raise _unauthorized("no webhook secret")
    if provider is Provider.GITLAB:
        token = lowered.get("x-gitlab-token")
        if token is None or not hmac.compare_digest(_as_bytes(token), secret):
            raise _unauthorized("missing or wrong X-Gitlab-Token")
        return
    if provider is Provider.GITEA:
        given = lowered.get("x-gitea-signature") or lowered.get("x-forgejo-signature")
    else:
        name = "x-hub-signature-256" if provider is Provider.GITHUB else "x-hub-signature"
        given = lowered.get(name)
        if given is not None:
            scheme, _, given = given.strip().partition("=")
            if scheme.lower() != "sha256":
                raise _unauthorized("signature is not sha256")
    if given is None:
        raise _unauthorized("missing signature header")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(_as_bytes(expected), _as_bytes(given.strip().lower())):
        raise _unauthorized("signature does not match")


# --- parsing ------------------------------------------------------------------------------


def _load(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise _bad_request("body is not JSON") from err
    if not isinstance(payload, dict):
        raise _bad_request("body is not a JSON object")
    return payload


def _obj(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise _bad_request(f"{key} is not an object")
    return value


def _optional_text(parent: Mapping[str, Any], key: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad_request(f"{key} is not a string")
    return value


def _text(parent: Mapping[str, Any], key: str) -> str:
    value = _optional_text(parent, key)
    if not value:
        raise _bad_request(f"{key} is missing")
    return value


def _urls(*sources: tuple[Mapping[str, Any], tuple[str, ...]]) -> frozenset[str]:
    urls = {
        normalize_repo_url(value)
        for parent, keys in sources
        for key in keys
        if (value := _optional_text(parent, key))
    }
    if not urls:
        raise _bad_request("payload names no repository URL")
    return frozenset(urls)


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
    urls = _urls((_obj(payload, "repository"), keys))
    sha = _commit(_optional_text(payload, "after"))
    return PushEvent(provider, urls, _text(payload, "ref"), sha)


def _parse_gitlab(provider: Provider, payload: dict[str, Any]) -> PushEvent | None:
    if payload.get("object_kind", "push") not in _GITLAB_PUSH_KINDS:
        return None  # a system hook about something other than a push
    keys = ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url")
    sources: list[tuple[Mapping[str, Any], tuple[str, ...]]] = [(_obj(payload, "project"), keys)]
    if isinstance(payload.get("repository"), dict):
        sources.append((payload["repository"], ("git_http_url", "git_ssh_url", "homepage")))
    sha = _optional_text(payload, "checkout_sha") or _optional_text(payload, "after")
    return PushEvent(provider, _urls(*sources), _text(payload, "ref"), _commit(sha))


def _parse_bitbucket(provider: Provider, payload: dict[str, Any]) -> PushEvent | None:
    urls = _urls((_obj(_obj(_obj(payload, "repository"), "links"), "html"), ("href",)))
    changes = _obj(payload, "push").get("changes")
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise _bad_request("push.changes is not a list of objects")
    # The newest change is the last one that created or moved a ref; a push that only
    # deleted refs still names the ref (from "old") so its repository is fetched.
    moved = [c["new"] for c in changes if c.get("new") is not None]
    deleted = [c["old"] for c in changes if c.get("old") is not None]
    if not moved and not deleted:
        return None  # a push that changed no ref
    state = moved[-1] if moved else deleted[-1]
    if not isinstance(state, dict):
        raise _bad_request("push change is not an object")
    prefix = _BITBUCKET_REF_PREFIX.get(_text(state, "type"))
    if prefix is None:
        raise _bad_request("push change is neither a branch nor a tag")
    target = state.get("target")
    sha = _optional_text(target, "hash") if moved and isinstance(target, dict) else ""
    return PushEvent(provider, urls, prefix + _text(state, "name"), sha)


_PARSERS = {
    Provider.GITHUB: _parse_github_or_gitea,
    Provider.GITLAB: _parse_gitlab,
    Provider.GITEA: _parse_github_or_gitea,
    Provider.BITBUCKET: _parse_bitbucket,
}


# provider -> headers carrying the delivery's ID, the same on the provider's own retries,
# best first. GitLab before 17.4 sends no Idempotency-Key: its event UUID, per hook.
_DELIVERY_HEADERS = {
    Provider.GITHUB: (("x-github-delivery",),),
    Provider.GITLAB: (("idempotency-key",), ("x-gitlab-event-uuid", "x-gitlab-webhook-uuid")),
    Provider.GITEA: (("x-gitea-delivery",), ("x-forgejo-delivery",), ("x-gogs-delivery",)),
    Provider.BITBUCKET: (("x-request-uuid",),),
}
MAX_DELIVERY_ID = 200


def delivery_id(provider: Provider, headers: Mapping[str, str]) -> str:
    """The provider's ID of a delivery, "" when it sends none."""
    lowered = _lower_keys(headers)
    for names in _DELIVERY_HEADERS[provider]:
        parts = [lowered.get(name, "").strip() for name in names]
        if parts[0]:
            return "/".join(part for part in parts if part)[:MAX_DELIVERY_ID]
    return ""


def parse_push(provider: Provider, headers: Mapping[str, str], body: bytes) -> PushEvent | None:
    """The push a verified delivery describes; ``None`` for other events (ping, ...).

    Raises only ``WebhookError(400)``, whatever the body holds.
    """
    lowered = _lower_keys(headers)
    names, pushes = _EVENTS[provider]
    event = next((lowered[name] for name in names if name in lowered), None)
    if event is None:
        raise _bad_request(f"missing {names[0]} header")
    if event.strip() not in pushes:
        return None
    push = _PARSERS[provider](provider, _load(body))
    return None if push is None else replace(push, delivery=delivery_id(provider, headers))


# --- HTTP ---------------------------------------------------------------------------------

Target = tuple[str, str] | None
"""The GitRepository (namespace, name) a delivery's path names; None for the shared path."""
ResolveSecret = Callable[[Provider, Target], bytes | None]
OnPush = Callable[[PushEvent, Target], Awaitable[int]]
OnResult = Callable[[Provider | None, str], None]


async def _read_at_most(stream: StreamReader, limit: int) -> bytes:
    """The body, read in chunks and abandoned as soon as it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(limit + 1 - size):
        size += len(chunk)
        if size > limit:
            raise WebhookError(413, "too_large", "body exceeds the size limit")
        chunks.append(chunk)
    return b"".join(chunks)


def make_app(
    resolve_secret: ResolveSecret,
    on_push: OnPush,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_result: OnResult | None = None,
    refusals: RefusalLog | None = None,
    deliveries: DeliveryMemory | None = None,
) -> web.Application:
    """An aiohttp app serving ``POST /hooks/{provider}`` (verified with the provider's shared
    secret) and ``POST /hooks/{provider}/{namespace}/{name}`` (verified with that
    GitRepository's own secret); ``on_push`` says how many repositories a push triggered
    and should only enqueue work (providers time out in ~10s).

    ``on_result`` gets each delivery's result: ``accepted`` (a push that triggered at
    least one repository), ``unmatched`` (a verified push no repository watches: its URL
    and ref match none), ``ignored`` (a verified event that is not a push), ``duplicate``
    (a delivery ID already handled: a replay or a provider's retry, answered 200 and acted
    on once), or the refusal (``unauthorized``, ``bad_request``, ``too_large``,
    ``not_found``, ``error``).
    """
    refusal_log = refusals if refusals is not None else RefusalLog()
    memory = deliveries if deliveries is not None else DeliveryMemory()
    if max_body_bytes < 0:
        raise ValueError("max_body_bytes must not be negative")

    async def deliver(provider: Provider, target: Target, request: web.Request) -> tuple[str, int]:
        length = request.content_length
        if length is not None and length > max_body_bytes:
            raise WebhookError(413, "too_large", "Content-Length exceeds the size limit")
        secret = resolve_secret(provider, target)
        if not secret:  # never accept unsigned deliveries
            raise _unauthorized("no secret configured for this provider and path")
        body = await _read_at_most(request.content, max_body_bytes)
        verify(provider, request.headers, body, secret)
        event = parse_push(provider, request.headers, body)
        if event is None:
            return "ignored", 0
        # Remembered only once verified: forged deliveries cannot evict genuine IDs.
        claim = f"{provider.value}|{target}|{event.delivery}" if event.delivery else ""
        if claim and not memory.claim(claim):
            refusal_log.refused(
                provider.value, "duplicate", f"delivery {event.delivery!r} was already handled"
            )
            return "duplicate", 0
        try:
            triggered = await on_push(event, target)
        except BaseException:
            if claim:
                memory.release(claim)
            raise
        return ("accepted" if triggered > 0 else "unmatched"), triggered

    async def handle(request: web.Request) -> web.Response:
        provider: Provider | None = None
        answer: dict[str, object]
        try:
            provider = Provider(request.match_info["provider"].lower())
        except ValueError:
            status, result, answer = 404, "not_found", {"error": "not_found"}
        else:
            target = None
            if "name" in request.match_info:
                target = (request.match_info["namespace"], request.match_info["name"])
            try:
                result, triggered = await deliver(provider, target, request)
                status, answer = 202, {"triggered": triggered}
                if result == "duplicate":
                    # 2xx, not 4xx: a provider's own retry of a delivery it thinks failed
                    # must not count as a failure (GitLab disables failing hooks).
                    status, answer = 200, {"triggered": 0, "duplicate": True}
            except WebhookError as err:
                refusal_log.refused(provider.value, err.reason, str(err))
                status, result, answer = err.status, err.reason, {"error": err.reason}
            except Exception:
                log.exception("webhook handler failed provider=%s", provider)
                status, result, answer = 500, "error", {"error": "internal"}
        if on_result is not None:
            try:
                on_result(provider, result)
            except Exception:
                log.exception("webhook on_result callback failed provider=%s", provider)
        return web.json_response(answer, status=status)

    app = web.Application()
    app.router.add_post("/hooks/{provider}", handle)
    app.router.add_post("/hooks/{provider}/{namespace}/{name}", handle)
    return app
