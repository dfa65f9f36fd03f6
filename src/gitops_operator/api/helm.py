"""``spec.render.helm`` of an Application: the release, its values, the capabilities its
templates see, and the chart repositories its dependencies come from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidSpecError

CHART_REPOSITORY_SCHEMES = ("https", "http", "oci")
_KUBE_VERSION = re.compile(r"v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.+-]*)?")
_API_VERSION = re.compile(r"([a-z0-9.-]+/)?v[0-9a-z]+(/[A-Za-z0-9]+)?")


@dataclass(frozen=True, slots=True)
class ChartRepository:
    """``spec.render.helm.repositories[]``: how to reach the chart repository (HTTP) or
    registry (``oci://``) that chart dependencies name: the Secret with ``username``,
    ``password`` and ``ca.crt``, and ``plainHTTP`` for a registry without TLS."""

    url: str
    secret_name: str | None = None
    plain_http: bool = False


@dataclass(frozen=True, slots=True)
class HelmSpec:
    """``spec.render.helm``: release name (default: the Application's name), inline values
    and value files (paths relative to the chart directory, inside the repository), the
    Kubernetes version and API versions templates see (default: the cluster's), and
    credentials of the chart repositories that dependencies come from."""

    release_name: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    value_files: tuple[str, ...] = ()
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()
    repositories: tuple[ChartRepository, ...] = ()

    @property
    def is_default(self) -> bool:
        """True when no helm option is set (so a non-helm render can ignore it)."""
        return self == HelmSpec()


def parse_helm_spec(helm: dict[str, Any]) -> HelmSpec:
    """``spec.render.helm`` (also built by the CLI's ``render`` from its flags)."""
    values = helm.get("values") or {}
    if not isinstance(values, dict):
        raise InvalidSpecError("spec.render.helm.values must be a mapping")
    kube_version = helm.get("kubeVersion") or None
    if kube_version is not None and not _KUBE_VERSION.fullmatch(str(kube_version)):
        raise InvalidSpecError(
            f"spec.render.helm.kubeVersion: {kube_version!r} is not a Kubernetes version"
            " (e.g. v1.30.0)"
        )
    api_versions = tuple(str(v) for v in helm.get("apiVersions") or ())
    for entry in api_versions:
        if not _API_VERSION.fullmatch(entry):
            raise InvalidSpecError(
                f"spec.render.helm.apiVersions: {entry!r} is not group/version or"
                " group/version/Kind (e.g. autoscaling/v2, monitoring.coreos.com/v1/ServiceMonitor)"
            )
    return HelmSpec(
        release_name=helm.get("releaseName") or None,
        values=dict(values),
        value_files=tuple(str(v) for v in helm.get("valueFiles") or ()),
        kube_version=str(kube_version) if kube_version else None,
        api_versions=api_versions,
        repositories=tuple(
            _parse_chart_repository(i, entry)
            for i, entry in enumerate(helm.get("repositories") or ())
        ),
    )


def _parse_chart_repository(index: int, entry: dict[str, Any]) -> ChartRepository:
    where = f"spec.render.helm.repositories[{index}]"
    url = str(entry.get("url") or "").rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in CHART_REPOSITORY_SCHEMES or not rest.split("/")[0]:
        raise InvalidSpecError(
            f"{where}.url: {url!r} is not an https://, http:// or oci:// URL with a host"
        )
    if "@" in rest.split("/")[0]:
        raise InvalidSpecError(
            f"{where}.url must not carry credentials: put them in the Secret of secretRef"
        )
    plain_http = bool(entry.get("plainHTTP", False))
    if plain_http and scheme != "oci":
        raise InvalidSpecError(
            f"{where}.plainHTTP applies to oci:// registries; an http:// URL is already plain"
        )
    return ChartRepository(
        url=url,
        secret_name=(entry.get("secretRef") or {}).get("name") or None,
        plain_http=plain_http,
    )
