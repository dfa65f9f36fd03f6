"""What a helm render needs from the cluster: its capabilities and the credentials of the
chart repositories an Application names.

A missing or unusable Secret is retried (``RetryableError``), never held against the
revision: creating or fixing the Secret is enough, no new commit is needed."""

from __future__ import annotations

import base64
import binascii

from ..api import HelmSpec
from ..errors import RetryableError
from ..kube import KubeClient
from ..objects import ObjectRef
from ..render import Capabilities, RepositoryCredentials

SECRET_RETRY = 15.0
"""Seconds before a render waiting for a repository Secret is tried again."""


def cluster_capabilities(kube: KubeClient) -> Capabilities:
    """The destination cluster's version and API versions, as templates should see them."""
    version, api_versions = kube.capabilities()
    return Capabilities(kube_version=version, api_versions=api_versions)


def chart_credentials(
    kube: KubeClient, namespace: str, helm: HelmSpec
) -> dict[str, RepositoryCredentials]:
    """Credentials of each ``spec.render.helm.repositories`` entry with a ``secretRef``, by
    URL, read from the Application's namespace with the Application's own rights."""
    found = {}
    for repo in helm.repositories:
        if not repo.secret_name:
            continue
        ref = ObjectRef("", "Secret", namespace, repo.secret_name)
        secret = kube.get("v1", ref)
        if secret is None:
            raise RetryableError(
                f"Secret {namespace}/{repo.secret_name} (spec.render.helm.repositories"
                f" secretRef of {repo.url}) not found",
                reason="SecretNotFound",
                requeue_after=SECRET_RETRY,
            )
        found[repo.url] = _from_secret(f"{namespace}/{repo.secret_name}", secret.get("data") or {})
    return found


def _from_secret(name: str, data: dict[str, str]) -> RepositoryCredentials:
    def value(key: str) -> str:
        raw = data.get(key)
        try:
            return base64.b64decode(raw).decode().strip("\n") if raw else ""
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise RetryableError(
                f"Secret {name}: {key} is not valid base64 text",
                reason="InvalidSecret",
                requeue_after=SECRET_RETRY,
            ) from exc

    creds = RepositoryCredentials(value("username"), value("password"), value("ca.crt"))
    if bool(creds.username) != bool(creds.password) or not (creds.password or creds.ca_pem):
        raise RetryableError(
            f"Secret {name} needs username and password, or ca.crt, for a chart repository",
            reason="InvalidSecret",
            requeue_after=SECRET_RETRY,
        )
    return creds
