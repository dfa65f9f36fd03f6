"""Git credentials of a GitRepository, and the keys it trusts to sign, read from the
Secrets its spec names."""

from __future__ import annotations

from ..errors import InvalidSpecError, RetryableError
from ..kube import KubeClient
from ..objects import ObjectRef
from ..source import Credentials, TrustedKeys, trusted_keys


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


def load_trusted_keys(kube: KubeClient, namespace: str, secret_name: str) -> TrustedKeys:
    """The keys of ``spec.verify.secretRef``; ``InvalidSpecError`` if the Secret is
    missing or holds no usable public key."""
    secret = kube.get("v1", ObjectRef("", "Secret", namespace, secret_name))
    if secret is None:
        raise InvalidSpecError(
            f"Secret {namespace}/{secret_name} (spec.verify.secretRef) not found",
            reason="SecretNotFound",
        )
    return trusted_keys(f"{namespace}/{secret_name}", secret.get("data") or {})


REVERT_SECRET_RETRY = 30.0


def load_revert_credentials(kube: KubeClient, namespace: str, secret_name: str) -> Credentials:
    """The write credentials of ``spec.rollback.gitRevert.secretRef``, read with the
    Application's rights: a missing Secret is waited for (``RetryableError``), an unusable
    one is ``InvalidSpecError``."""
    secret = kube.get("v1", ObjectRef("", "Secret", namespace, secret_name))
    if secret is None:
        raise RetryableError(
            f"Secret {namespace}/{secret_name} (spec.rollback.gitRevert.secretRef) not found:"
            " no revert is pushed without write credentials",
            reason="SecretNotFound",
            requeue_after=REVERT_SECRET_RETRY,
        )
    return Credentials.from_secret(f"{namespace}/{secret_name}", secret.get("data") or {})
