"""How the API server's refusals leave ``kube``: ``errors.ApiError`` (or ``NotFoundError``,
``InvalidPatchError``) with the server's own message, never the client library's types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import DynamicApiError

from .errors import ApiError, InvalidPatchError, NotFoundError
from .kube_masking import mask_secret_values
from .objects import KubeObject

TYPED_PATCH_FAILURE = "failed to create typed patch object"
"""The only words that tell server-side apply's 500 for a mistyped value (the manifest's
fault) from a server failure: the Status carries no other mark of it."""


class HttpError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


@contextmanager
def api_errors(action: str, *, secret: KubeObject | None = None) -> Iterator[None]:
    """Translate the client library's exceptions into ``errors.ApiError``; when the
    request carried a Secret (``secret``), its values are masked out of the message."""
    try:
        yield
    except (ApiException, DynamicApiError, HttpError) as exc:
        code = int(getattr(exc, "status", 0) or 0)
        message, reason = status_message(getattr(exc, "body", None), str(exc))
        if secret is not None and secret.get("kind") == "Secret":
            message = mask_secret_values(message, secret)
        if code == 404:
            raise NotFoundError(f"{action}: {message}") from exc
        if code == 500 and TYPED_PATCH_FAILURE in message:
            raise InvalidPatchError(
                f"{action}: {message}", code=code, api_reason=reason or "Invalid"
            ) from exc
        raise ApiError(f"{action}: {message}", code=code, api_reason=reason) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ApiError(
            f"{action}: API server unreachable: {exc}", code=0, api_reason="Unreachable"
        ) from exc


def status_message(body: Any, fallback: str) -> tuple[str, str]:
    """The ``message`` and ``reason`` of a Kubernetes Status body."""
    try:
        status = json.loads(body) if isinstance(body, str | bytes) else None
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"]), str(status.get("reason", ""))
    return fallback.strip().splitlines()[0] if fallback.strip() else "unknown error", ""
