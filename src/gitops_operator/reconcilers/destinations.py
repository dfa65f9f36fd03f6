"""Clients of the clusters Applications deploy to (``spec.destination``), from the
kubeconfig in a Secret of the Application's namespace.

The kubeconfig is the tenant's, so it may only name a server and inline credentials:
``exec`` and ``auth-provider`` plugins (commands the operator would run), file paths
(``tokenFile``, ``client-certificate``, ``certificate-authority``...: files of the
operator's own filesystem) and proxies are refused (``InvalidKubeConfig``). The Secret is
read with the operator's identity, from the Application's own namespace only. A client is
built once per Secret version; the Application's ServiceAccount is impersonated there too.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from ..api.destination import KUBECONFIG_KEYS, Destination
from ..errors import ApiError, InvalidSpecError, RetryableError
from ..kube import KubeClient
from ..manager import ResourceManager
from ..objects import ObjectRef

MAX_KUBECONFIG_BYTES = 64 * 1024
MAX_CLIENTS = 64
"""Destinations whose clients are kept (the least recently used go first)."""
KUBECONFIG_RETRY = 30.0
"""Seconds between looks for a missing kubeconfig Secret."""
POOL_SIZE = 8

_CLUSTER_FIELDS = {
    "server",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "extensions",
}
_USER_FIELDS = {
    "token",
    "client-certificate-data",
    "client-key-data",
    "username",
    "password",
    "extensions",
}


UNREACHABLE_RETRY = 15.0
"""Seconds between tries of a destination that does not answer."""


class KubeConfigNotFoundError(RetryableError):
    reason = "KubeConfigNotFound"


class DestinationUnreachableError(RetryableError):
    """The destination cluster did not answer (or answered 429/5xx): nothing of the
    revision is judged, nothing is pruned; tried again soon."""

    reason = "DestinationUnreachable"


@contextmanager
def unreachable(destination: Destination, namespace: str) -> Iterator[None]:
    """Turn a remote destination's transient API failure into
    ``DestinationUnreachableError``."""
    try:
        yield
    except ApiError as exc:
        if not destination.remote or not exc.transient:
            raise
        raise DestinationUnreachableError(
            f"{destination.describe(namespace)} is unreachable: {exc.message}; nothing is"
            f" applied or pruned there until it answers (tried every {UNREACHABLE_RETRY:.0f}s)",
            requeue_after=UNREACHABLE_RETRY,
        ) from exc


def _invalid(namespace: str, name: str, why: str) -> InvalidSpecError:
    return InvalidSpecError(
        f"the kubeconfig in Secret {namespace}/{name} {why}", reason="InvalidKubeConfig"
    )


def checked_kubeconfig(text: str, namespace: str, name: str) -> dict[str, Any]:
    """The kubeconfig reduced to its current context, cluster and user; refused unless
    they hold only a server and inline credentials."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(namespace, name, f"is not YAML ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise _invalid(namespace, name, "is not a kubeconfig")

    def named(section: str, wanted: str) -> dict[str, Any]:
        for entry in doc.get(section) or []:
            if isinstance(entry, dict) and entry.get("name") == wanted:
                return entry
        raise _invalid(namespace, name, f"has no {section[:-1]} named {wanted!r}")

    contexts = [c for c in doc.get("contexts") or [] if isinstance(c, dict)]
    current = doc.get("current-context") or (contexts[0].get("name") if contexts else None)
    if not isinstance(current, str):
        raise _invalid(namespace, name, "has no context")
    context = named("contexts", current).get("context") or {}
    cluster_entry = named("clusters", str(context.get("cluster")))
    user_entry = named("users", str(context.get("user")))
    cluster, user = cluster_entry.get("cluster") or {}, user_entry.get("user") or {}
    if not isinstance(cluster, dict) or not isinstance(user, dict):
        raise _invalid(namespace, name, "has a malformed cluster or user")
    for what, fields, allowed in (
        ("cluster", cluster, _CLUSTER_FIELDS),
        ("user", user, _USER_FIELDS),
    ):
        refused = sorted(set(fields) - allowed)
        if refused:
            raise _invalid(
                namespace,
                name,
                f"uses {', '.join(refused)} in its {what}: only a server and inline"
                " credentials are allowed (no exec or auth-provider plugins, files or proxies)",
            )
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        raise _invalid(namespace, name, "names no https:// server")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "destination", "cluster": cluster}],
        "users": [{"name": "destination", "user": user}],
        "contexts": [
            {
                "name": "destination",
                "context": {"cluster": "destination", "user": "destination"},
            }
        ],
        "current-context": "destination",
    }


class DestinationClients:
    """Clients of destination clusters, by the Secret (and its version) that names them."""

    def __init__(self) -> None:
        self._clients: OrderedDict[tuple[str, str, str, str], KubeClient] = OrderedDict()
        self._managers: dict[tuple[tuple[str, str, str, str], str], ResourceManager] = {}
        self._lock = threading.Lock()

    def client(self, home: KubeClient, namespace: str, destination: Destination) -> KubeClient:
        """The destination's client with the kubeconfig's own identity."""
        secret = home.get("v1", ObjectRef("", "Secret", namespace, destination.secret_name))
        if secret is None:
            raise KubeConfigNotFoundError(
                f"Secret {namespace}/{destination.secret_name} of spec.destination.kubeConfig"
                f" not found; nothing is applied; looked for again every {KUBECONFIG_RETRY:.0f}s",
                requeue_after=KUBECONFIG_RETRY,
            )
        version = str((secret.get("metadata") or {}).get("resourceVersion") or "")
        key = (namespace, destination.secret_name, destination.key, version)
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
        text = _kubeconfig_text(secret, namespace, destination)
        checked = checked_kubeconfig(text, namespace, destination.secret_name)
        made = KubeClient.from_config(checked, field_manager=home.field_manager, pool=POOL_SIZE)
        with self._lock:
            self._clients[key] = made
            while len(self._clients) > MAX_CLIENTS:
                old, _ = self._clients.popitem(last=False)
                for stale in [k for k in self._managers if k[0] == old]:
                    del self._managers[stale]
        return made

    def manager(
        self,
        home: KubeClient,
        namespace: str,
        destination: Destination,
        user: str,
        concurrency: int,
    ) -> ResourceManager:
        """A manager of the destination acting as ``user`` (impersonated), or with the
        kubeconfig's identity when ``user`` is empty."""
        kube = self.client(home, namespace, destination)
        with self._lock:
            key = next((k for k, v in self._clients.items() if v is kube), None)
            found = None if key is None else self._managers.get((key, user))
            if found is None:
                found = ResourceManager(kube.impersonating(user) if user else kube, concurrency)
                if key is not None:  # else evicted meanwhile: used once, not kept
                    self._managers[(key, user)] = found
            return found


def _kubeconfig_text(secret: dict[str, Any], namespace: str, destination: Destination) -> str:
    data = secret.get("data") or {}
    keys = (destination.key,) if destination.key else KUBECONFIG_KEYS
    encoded = next((data[k] for k in keys if isinstance(data.get(k), str)), None)
    if encoded is None:
        raise _invalid(
            namespace, destination.secret_name, f"is missing: no key {' or '.join(keys)}"
        )
    if len(encoded) > MAX_KUBECONFIG_BYTES * 4 // 3 + 4:
        raise _invalid(namespace, destination.secret_name, f"is over {MAX_KUBECONFIG_BYTES} bytes")
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid(namespace, destination.secret_name, "is not UTF-8 text") from None
