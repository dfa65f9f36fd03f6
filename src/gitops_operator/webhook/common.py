"""What every webhook delivery shares: who sent it (the provider), how it is verified
(HMAC-SHA256 or token, compared in constant time, before the body is parsed), the
provider's delivery ID, and the helpers that read a payload without trusting it.

Repository URLs are compared in one canonical form, ``host/path`` (see
``normalize_repo_url``), so a GitRepository's ``https://`` URL matches a push whose payload
names the ``git@host:org/repo.git`` form of the same repository.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ..errors import WebhookError, redact

DEFAULT_MAX_BODY_BYTES = 1_048_576


class Provider(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"  # Forgejo and Gogs send the same payload
    BITBUCKET = "bitbucket"  # Bitbucket Cloud


def unauthorized(message: str) -> WebhookError:
    return WebhookError(401, "unauthorized", message)


def bad_request(message: str) -> WebhookError:
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


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _as_bytes(value: str) -> bytes:
    # compare_digest refuses non-ASCII str; "replace" never raises, even on lone surrogates.
    return value.encode("utf-8", "replace")


def verify(provider: Provider, headers: Mapping[str, str], body: bytes, secret: bytes) -> None:
    """Raise ``WebhookError(401)`` unless the delivery is signed with (or carries) ``secret``."""
    lowered = lower_keys(headers)
    if not secret:  # an empty key would let anyone compute the signature
        raise unauthorized("no webhook secret")
    if provider is Provider.GITLAB:
        token = lowered.get("x-gitlab-token")
        if token is None or not hmac.compare_digest(_as_bytes(token), secret):
            raise unauthorized("missing or wrong X-Gitlab-Token")
        return
    if provider is Provider.GITEA:
        given = lowered.get("x-gitea-signature") or lowered.get("x-forgejo-signature")
    else:
        name = "x-hub-signature-256" if provider is Provider.GITHUB else "x-hub-signature"
        given = lowered.get(name)
        if given is not None:
            scheme, _, given = given.strip().partition("=")
            if scheme.lower() != "sha256":
                raise unauthorized("signature is not sha256")
    if given is None:
        raise unauthorized("missing signature header")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(_as_bytes(expected), _as_bytes(given.strip().lower())):
        raise unauthorized("signature does not match")


# --- reading payloads -------------------------------------------------------------------


def load_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise bad_request("body is not JSON") from err
    if not isinstance(payload, dict):
        raise bad_request("body is not a JSON object")
    return payload


def obj(parent: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise bad_request(f"{key} is not an object")
    return value


def optional_text(parent: Mapping[str, Any], key: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"{key} is not a string")
    return value


def text(parent: Mapping[str, Any], key: str) -> str:
    value = optional_text(parent, key)
    if not value:
        raise bad_request(f"{key} is missing")
    return value


def urls(*sources: tuple[Mapping[str, Any], tuple[str, ...]]) -> frozenset[str]:
    found = {
        normalize_repo_url(value)
        for parent, keys in sources
        for key in keys
        if (value := optional_text(parent, key))
    }
    if not found:
        raise bad_request("payload names no repository URL")
    return frozenset(found)


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
    lowered = lower_keys(headers)
    for names in _DELIVERY_HEADERS[provider]:
        parts = [lowered.get(name, "").strip() for name in names]
        if parts[0]:
            return "/".join(part for part in parts if part)[:MAX_DELIVERY_ID]
    return ""


def event_name(headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    """The event a delivery says it is (the first of ``names`` present), stripped."""
    lowered = lower_keys(headers)
    event = next((lowered[name] for name in names if name in lowered), None)
    if event is None:
        raise bad_request(f"missing {names[0]} header")
    return event.strip()
