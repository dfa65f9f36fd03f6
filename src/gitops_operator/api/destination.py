"""``spec.destination`` of an Application: the cluster it deploys to. Without it, the
operator's own cluster; with ``kubeConfig.secretRef``, the cluster of a kubeconfig kept in
a Secret of the Application's namespace (Flux's ``spec.kubeConfig.secretRef`` shape: the
key ``value``, else ``value.yaml``, unless ``key`` names another).

Field names of ``destination`` are spelled here only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidSpecError

KUBECONFIG_KEYS = ("value", "value.yaml")
"""Where a kubeconfig Secret holds it when ``key`` is not given (as Flux reads it)."""
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")


@dataclass(frozen=True, slots=True)
class Destination:
    """Where the Application's objects go: ``secret_name`` empty means this cluster."""

    secret_name: str = ""
    key: str = ""
    """The Secret's data key; empty: ``KUBECONFIG_KEYS`` in order."""

    @property
    def remote(self) -> bool:
        return bool(self.secret_name)

    def describe(self, namespace: str) -> str:
        return f"the cluster of the kubeconfig in Secret {namespace}/{self.secret_name}"


LOCAL = Destination()


def parse_destination(spec: dict[str, Any]) -> Destination:
    """``spec.destination``; ``InvalidSpecError`` for a malformed one."""
    destination = spec.get("destination")
    if destination is None:
        return LOCAL
    if not isinstance(destination, dict):
        raise InvalidSpecError("spec.destination must be a mapping")
    kubeconfig = destination.get("kubeConfig")
    if kubeconfig is None:
        return LOCAL
    ref = kubeconfig.get("secretRef") if isinstance(kubeconfig, dict) else None
    if not isinstance(ref, dict):
        raise InvalidSpecError("spec.destination.kubeConfig.secretRef is required")
    name, key = ref.get("name"), ref.get("key", "")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidSpecError(
            f"spec.destination.kubeConfig.secretRef.name {name!r} is not a Secret name"
            " (a Secret of the Application's own namespace)"
        )
    if not isinstance(key, str) or (key and not _KEY.fullmatch(key)):
        raise InvalidSpecError(f"spec.destination.kubeConfig.secretRef.key {key!r} is not a key")
    return Destination(secret_name=name, key=key)
