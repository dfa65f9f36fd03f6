"""One delivery attempt: the Provider's Secret read, its body posted (or its commit status
set), the answer turned into a ``Result``. Blocking: run on the delivery threads.

Messages never hold the address (a Slack or Teams URL is itself a credential), the
token, or the body the provider answered with.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InvalidSpecError, SourceError
from ..source.hosts import HostPolicy, check_target
from .model import COMMIT_STATUS_TYPES, Alert, NotifyEvent, Provider, ProviderType
from .payloads import body_of, signature
from .status import Result

SecretReader = Callable[[str, str], Mapping[str, str] | None]
"""(namespace, name) -> the Secret's decoded data, or None when it does not exist."""
CommitStatusSender = Callable[[Provider, str, str, NotifyEvent], Result]
"""(provider, address, token, event) -> the result of setting the commit status."""
USER_AGENT = "gitops-operator-notifier"


@dataclass(frozen=True, slots=True)
class Delivery:
    event: NotifyEvent
    alert: Alert
    provider: Provider


def decoded(secret: Mapping[str, object] | None) -> dict[str, str] | None:
    """A Secret object's data, base64-decoded (keys that are no text are left out)."""
    if secret is None:
        return None
    data = secret.get("data") or {}
    out: dict[str, str] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            try:
                out[str(key)] = base64.b64decode(str(value)).decode().strip()
            except (ValueError, UnicodeDecodeError):
                continue
    return out


def host_refusal(address: str, policy: HostPolicy) -> Result | None:
    """Why ``address`` may not be posted to, or None: the same rule as repository URLs
    (public addresses, plus what ``GITOPS_ALLOWED_GIT_HOSTS`` allows), so that a tenant's
    Provider cannot reach the cloud metadata endpoint, the kubelet or a Service and read
    the answer back from status. The message names the host only: the rest of a Slack or
    Teams URL is a credential."""
    host = urlsplit(address).hostname or ""
    try:
        check_target(address, policy)
    except InvalidSpecError:
        return Result(
            False,
            "HostNotAllowed",
            f"the address's host {host!r} is refused: it is inside the cluster or this"
            " machine, or a loopback, link-local or private address (an administrator can"
            " allow it with GITOPS_ALLOWED_GIT_HOSTS)",
        )
    except SourceError:
        return Result(False, "DeliveryFailed", f"cannot resolve {host!r}", retryable=True)
    return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: the body is not sent elsewhere."""

    def redirect_request(self, *_: object, **__: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(address: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Result:
    """POST ``body``; 2xx is delivered, 429 and 5xx and network errors may be retried."""
    request = urllib.request.Request(  # noqa: S310 - the address was checked to be http(s)
        address,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        code = int(exc.code)
        exc.close()
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Result(False, "DeliveryFailed", f"no answer: {reason}", retryable=True)
    if 200 <= code < 300:
        return Result(True, "Succeeded", f"HTTP {code}", code=code)
    return Result(
        False,
        "DeliveryFailed",
        f"the provider answered HTTP {code}",
        code=code,
        retryable=code == 429 or code >= 500,
    )


class Sender:
    """Delivers one notification; ``commit_status`` sets commit statuses (github, gitlab,
    gitea) through the Git host client."""

    def __init__(
        self, secrets: SecretReader, commit_status: CommitStatusSender, hosts: HostPolicy
    ) -> None:
        self.secrets = secrets
        self.commit_status = commit_status
        self.hosts = hosts

    def __call__(self, delivery: Delivery) -> Result:
        provider = delivery.provider
        data: Mapping[str, str] = {}
        if provider.secret_name:
            found = self.secrets(provider.namespace, provider.secret_name)
            if found is None:
                return Result(
                    False,
                    "SecretNotFound",
                    f"Secret {provider.namespace}/{provider.secret_name} not found",
                    retryable=True,
                )
            data = found
        address = data.get("address") or provider.address
        token = data.get("token", "")
        if not address.startswith(("http://", "https://")):
            return Result(False, "InvalidProvider", "no http or https address (spec or Secret)")
        refused = host_refusal(address, self.hosts)
        if refused is not None:
            return refused
        if provider.type in COMMIT_STATUS_TYPES:
            return self.commit_status(provider, address, token, delivery.event)
        body = body_of(delivery.event, delivery.alert, provider, address)
        headers: dict[str, str] = {}
        if provider.type is ProviderType.GENERIC_HMAC:
            if not token:
                return Result(
                    False, "InvalidProvider", "generic-hmac needs the HMAC key in the token key"
                )
            headers["X-Signature"] = signature(body, token.encode())
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        return post(address, body, headers, provider.timeout)
