"""Verify and parse Git-provider webhooks (pushes and pull requests), and serve them
over HTTP.

A delivery is authenticated (HMAC-SHA256 or token, compared in constant time) before its
body is parsed, its size is capped before it is read, and it only ever names repositories
(and a pull request's number): what a repository contains is decided by the fetch, never
by the payload. ``common`` holds what every delivery shares (providers, URL
normalisation, verification, delivery IDs), ``push`` and ``pull_request`` parse the two
kinds of event, ``http`` serves them.
"""

from .common import (
    DEFAULT_MAX_BODY_BYTES,
    MAX_DELIVERY_ID,
    Provider,
    delivery_id,
    normalize_repo_url,
    verify,
)
from .http import OnPullRequest, OnPush, OnResult, ResolveSecret, Target, make_app
from .pull_request import PullRequestEvent, is_pull_request, parse_pull_request
from .push import PushEvent, parse_push

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_DELIVERY_ID",
    "OnPullRequest",
    "OnPush",
    "OnResult",
    "Provider",
    "PullRequestEvent",
    "PushEvent",
    "ResolveSecret",
    "Target",
    "delivery_id",
    "is_pull_request",
    "make_app",
    "normalize_repo_url",
    "parse_pull_request",
    "parse_push",
    "verify",
]
