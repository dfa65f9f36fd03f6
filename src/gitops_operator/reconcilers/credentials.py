"""Git credentials of a GitRepository, read from the Secret its spec names."""

from __future__ import annotations

from ..errors import InvalidSpecError
from ..kube import KubeClient
from ..objects import ObjectRef
from ..source import Credentials


def load_credentials(
    kube: KubeClient, namespace: str, secret_name: str | None
) -> Credentials | None:
    """None without ``secretRef``; ``InvalidSpecError`` if the Secret is missing or unusable."""
    if not secret_name:
        return None
    secret = kube.get("v1", ObjectRef("", "Secret", namespace, secret_name))
    if secret is None:
        raise InvalidSpecError(
            f"Secret {namespace}/{secret_name} (spec.secretRef) not found", reason="SecretNotFound"
        )
    return Credentials.from_secret(f"{namespace}/{secret_name}", secret.get("data") or {})
