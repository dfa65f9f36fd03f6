"""Serve webhook deliveries over HTTP: the body's size is capped before it is read, the
delivery is verified before it is parsed, and a replayed delivery ID is acted on once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import StreamReader, web

from ..deliveries import DeliveryMemory, RefusalLog
from ..errors import WebhookError
from .common import DEFAULT_MAX_BODY_BYTES, Provider, unauthorized, verify
from .pull_request import PullRequestEvent, is_pull_request, parse_pull_request
from .push import PushEvent, parse_push

log = logging.getLogger(__name__)

# --- HTTP ---------------------------------------------------------------------------------

Target = tuple[str, str] | None
"""The GitRepository (namespace, name) a delivery's path names; None for the shared path."""
ResolveSecret = Callable[[Provider, Target], bytes | None]
OnPush = Callable[[PushEvent, Target], Awaitable[int]]
OnPullRequest = Callable[[PullRequestEvent, Target], Awaitable[int]]
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
    on_pull_request: OnPullRequest | None = None,
) -> web.Application:
    """An aiohttp app serving ``POST /hooks/{provider}`` (verified with the provider's shared
    secret) and ``POST /hooks/{provider}/{namespace}/{name}`` (verified with that
    GitRepository's own secret); ``on_push`` says how many repositories a push triggered
    and should only enqueue work (providers time out in ~10s).

    ``on_result`` gets each delivery's result: ``accepted`` (a push that triggered at
    least one repository), ``unmatched`` (a verified push no repository watches: its URL
    and ref match none), ``ignored`` (a verified event that is not a push, nor a pull
    request with a new head: answered 200, not 202, as nothing was queued), ``duplicate``
    (a delivery ID already handled: a replay or a provider's retry, answered 200 and acted
    on once), or the refusal (``unauthorized``, ``bad_request``, ``too_large``,
    ``not_found``, ``error``).

    With ``on_pull_request``, a verified pull request with a new head (``pull_request.py``)
    goes there instead, verified, replay-checked and answered the same way; it too should
    only enqueue work. Without it, pull requests are ``ignored``.
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
            raise unauthorized("no secret configured for this provider and path")
        body = await _read_at_most(request.content, max_body_bytes)
        verify(provider, request.headers, body, secret)
        event: PushEvent | PullRequestEvent | None
        if on_pull_request is not None and is_pull_request(provider, request.headers):
            event = parse_pull_request(provider, request.headers, body)
        else:
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
            if isinstance(event, PullRequestEvent):
                assert on_pull_request is not None
                triggered = await on_pull_request(event, target)
            else:
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
                elif result == "ignored":  # verified, but nothing to act on: nothing queued
                    status, answer = 200, {"triggered": 0, "ignored": True}
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
